"""The spool: fetched objects on local disk, waiting to be merged into the warehouse.

Listing threads append newline-delimited JSON here instead of holding pages in memory, so a sync
of any size stays within bounded memory and never holds the warehouse while fetching. Each line
carries the object with its bookkeeping: parent id and created (child tables), snapshot version,
source and whether it is a deletion. The spool rotates: the writer merges the closed files while
listing goes on into new ones.

Besides the objects, the spool keeps the ids a full listing saw (small files kept for the whole
run): after the run, rows of a completely listed partition that Stripe no longer returned are
marked deleted.

Each spool is a directory of its own under `<state directory>/spool/`, removed when the run
ends, whatever the outcome. A run killed outright (kill -9, a lost machine) cannot remove its
own, so each new spool first removes those no live process holds: the owner keeps an
exclusive lock on a file inside its directory for its whole life, and the kernel drops that
lock when the process dies, however it dies. Nothing a crash leaves survives the next run;
nothing goes to the system's temporary directory, which may be small (a RAM disk) or shared.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from revenue_assets.catalog.pages import PageMeta
from revenue_assets.catalog.tables import TABLES_BY_NAME


@dataclass
class SpoolFile:
    """One table's spool file, with what the merge needs to know about its lines."""

    path: Path
    handle: BinaryIO
    bytes: int = 0
    lines: int = 0
    stubs: int = 0  # deletion stubs ({id, object, deleted}): applied apart, by tombstones.sql
    pages: int = 0  # lines holding a whole list page (its objects are unnested by the merge)
    keys: set[tuple[str | None, str]] = field(default_factory=set)
    repeats: bool = False  # an object appears twice: the merge must keep only the newest

    def note(self, parent_id: str | None, object_id: str) -> None:
        key = (parent_id, object_id)
        if key in self.keys:
            self.repeats = True
        else:
            self.keys.add(key)


class SpoolError(RuntimeError):
    """The spool cannot be written (a full disk, most often): one message saying where, and
    what to do. Nothing is lost: what was merged stays, the rest is fetched again."""

    @classmethod
    def writing(cls, path: Path, error: OSError) -> SpoolError:
        advice = (
            "free space there, or point REVENUE_ASSETS_STATE to a disk with room (the spool "
            "lives beside it)"
            if error.errno in (errno.ENOSPC, errno.EDQUOT)
            else "check that this folder is writable"
        )
        return cls(f"Cannot write the spool {path}: {error.strerror or error}; {advice}.")


SPOOL_FOLDER = "spool"
_OWNER_LOCK = ".owner.lock"  # held by the spool's process for the spool's life
_ROOT_LOCK = ".creating.lock"  # held while a spool is created or the dead ones are removed


def spool_root(state_path: Path) -> Path:
    """Where the spools live: beside the state file (the state directory)."""
    return Path(state_path).parent / SPOOL_FOLDER


def remove_abandoned(root: Path) -> list[Path]:
    """Remove the spool directories under `root` whose process is gone; return them."""
    removed = []
    with _root_locked(root):
        for directory in root.iterdir():
            if not directory.is_dir():
                continue
            owner = _lock_owner(directory)
            if owner is None:
                continue  # alive
            try:
                shutil.rmtree(directory, ignore_errors=True)
            finally:
                os.close(owner)
            removed.append(directory)
    return removed


@contextlib.contextmanager
def _root_locked(root: Path):
    """Creating a spool and removing dead ones exclude each other: a directory is never seen
    between its creation and its owner's lock."""
    root.mkdir(parents=True, exist_ok=True)
    handle = os.open(root / _ROOT_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _lock_owner(directory: Path) -> int | None:
    """A descriptor holding `directory`'s owner lock if no process held it (the owner died),
    else None. A directory without its lock file is a crash's too (creation is atomic)."""
    handle = os.open(directory / _OWNER_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(handle)
        return None
    return handle


class Spool:
    """Thread-safe NDJSON spool files, one per table, in a directory this process owns."""

    fatal_errors = (SpoolError,)  # a spool that cannot be written fails every table alike

    def __init__(
        self,
        root: Path,
        *,
        source: str = "list",
        max_pending_bytes: int | None = None,
    ) -> None:
        """`root`: the spools' folder (`spool_root`). `max_pending_bytes`: writers wait while
        this much awaits a merge. Fetching can outpace merging (no latency, a fast network);
        the cap keeps each merge's batch, and with it the merge's memory, bounded."""
        root = Path(root)
        remove_abandoned(root)
        with _root_locked(root):
            self.directory = Path(tempfile.mkdtemp(prefix="run-", dir=root))
            owner = _lock_owner(self.directory)
        assert owner is not None  # a fresh directory has no other owner
        self._owner = owner
        self.source = source
        self.max_pending_bytes = max_pending_bytes
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._failure: BaseException | None = None
        self._files: dict[str, SpoolFile] = {}
        self._seen: dict[str, SpoolFile] = {}
        self._generation = 0
        self.bytes_pending = 0

    # -- writing (called from listing threads) --------------------------------------------------

    def objects(
        self,
        table: str,
        objects: list[dict[str, Any]],
        *,
        version: float,
        parent: tuple[str, int] | None = None,
        deleted: bool = False,
        source: str | None = None,
    ) -> None:
        """Append objects of one table (and note their ids as seen)."""
        parent_id, parent_created = parent if parent else (None, None)
        source = source or self.source
        stubs = [is_stub(obj) for obj in objects]
        lines = b"".join(
            orjson.dumps(
                {
                    "o": obj,
                    "p": parent_id,
                    "pc": parent_created,
                    "v": version,
                    "s": source,
                    "d": deleted or bool(obj.get("deleted")),
                    "t": stub,
                }
            )
            + b"\n"
            for obj, stub in zip(objects, stubs, strict=True)
        )
        ids = [obj["id"] for obj in objects]
        registered = TABLES_BY_NAME.get(table)  # child tables: their parent carries the time
        created = [registered.created_of(obj) if registered else None for obj in objects]
        seen = {table: (_seen_rows(ids, [parent_id] * len(ids), created), len(ids))}
        with self._lock:
            self._append(table, lines, ids, parent_id, seen, stubs=sum(stubs))

    def page(
        self,
        table: str,
        body: bytes | memoryview,
        meta: PageMeta,
        *,
        version: float,
        parent: tuple[str, int] | None = None,
        children: dict[str, str] | None = None,
        source: str | None = None,
    ) -> None:
        """Append a list page as Stripe sent it (one line; DuckDB unnests its objects), and note
        its ids as seen, with those of the children embedded in its objects
        (`children`: embedded list field -> child table)."""
        parent_id, parent_created = parent if parent else (None, None)
        head = orjson.dumps(
            {"v": version, "s": source or self.source, "p": parent_id, "pc": parent_created}
        )
        # Newlines only appear between JSON tokens (inside strings they are escaped): blanks.
        line = head[:-1] + b',"page":' + bytes(body).replace(b"\n", b" ") + b"}\n"
        # Seen ids per table: this page's objects, and the children embedded in them.
        entries: dict[str, tuple[list, list, list]] = {
            table: (list(meta.ids), [parent_id] * len(meta), list(meta.created))
        }
        for embedded, child_table in (children or {}).items():
            for position, child_ids in enumerate(meta.children.get(embedded, [])):
                ids, parents, created = entries.setdefault(child_table, ([], [], []))
                ids += child_ids
                parents += [meta.ids[position]] * len(child_ids)
                created += [None] * len(child_ids)
        seen = {name: (_seen_rows(*entry), len(entry[0])) for name, entry in entries.items()}
        with self._lock:
            self._append(table, line, meta.ids, parent_id, seen, pages=1)

    def children_listed(self, table: str, parent: tuple[str, int]) -> None:
        """Note that every child of `parent` in child table `table` was listed: the parents
        whose unlisted children are gone, for a child table its parents do not embed."""
        rows = _seen_rows([parent[0]], [None], [parent[1]])
        with self._lock:
            seen_file = self._file(self._seen, listed_parents(table), "seen")
            _write(seen_file, rows)
            seen_file.lines += 1

    def _append(
        self,
        table: str,
        data: bytes,
        ids: list[str],
        parent_id: str | None,
        seen: dict[str, tuple[bytes, int]],
        *,
        stubs: int = 0,
        pages: int = 0,
    ) -> None:
        """Write serialized objects of one table and the ids seen (the lock is held)."""
        self._wait_for_room()
        spool_file = self._file(self._files, table, "objects")
        _write(spool_file, data)
        spool_file.bytes += len(data)
        spool_file.lines += len(ids)
        spool_file.stubs += stubs
        spool_file.pages += pages
        self.bytes_pending += len(data)
        for object_id in ids:
            spool_file.note(parent_id, object_id)
        for seen_table, (seen_rows, count) in seen.items():
            seen_file = self._file(self._seen, seen_table, "seen")
            _write(seen_file, seen_rows)
            seen_file.lines += count

    def _wait_for_room(self) -> None:
        """Block (holding no lock while waiting) until the pending batch is under the cap."""
        while self.max_pending_bytes is not None and self.bytes_pending >= self.max_pending_bytes:
            if self._failure is not None:
                raise RuntimeError("the warehouse writer failed") from self._failure
            self._drained.wait()

    def fail(self, error: BaseException) -> None:
        """The writer died: writers waiting for room must stop too, not wait forever."""
        with self._lock:
            self._failure = error
            self._drained.notify_all()

    def _file(self, files: dict[str, SpoolFile], table: str, kind: str) -> SpoolFile:
        spool_file = files.get(table)
        if spool_file is None:
            path = self.directory / f"{table}.{kind}.{self._generation}.ndjson"
            spool_file = SpoolFile(path, path.open("ab"))
            files[table] = spool_file
        return spool_file

    # -- reading (the writer) --------------------------------------------------------------------

    def rotate(self) -> dict[str, SpoolFile]:
        """Close the current object files and return them; later writes go to new files."""
        with self._lock:
            closed = {}
            for table, spool_file in self._files.items():
                _close(spool_file)
                spool_file.keys = set()  # only `repeats` matters from here on
                if spool_file.lines:
                    closed[table] = spool_file
                else:
                    spool_file.path.unlink(missing_ok=True)
            self._files = {}
            self._generation += 1
            self.bytes_pending = 0
            self._drained.notify_all()
            return closed

    def seen_ids(self) -> dict[str, Path]:
        """Files of the ids seen per table so far (flushed, safe to read while writing goes on)."""
        with self._lock:
            for spool_file in self._seen.values():
                try:
                    spool_file.handle.flush()
                except OSError as error:
                    raise SpoolError.writing(spool_file.path, error) from error
            return {table: f.path for table, f in self._seen.items() if f.lines}

    def close(self) -> None:
        """Remove every spool file (after the run, or after a failure: the run re-fetches)."""
        with self._lock:
            for spool_file in [*self._files.values(), *self._seen.values()]:
                with contextlib.suppress(OSError):  # removed next: what it holds is moot
                    spool_file.handle.close()
            self._files, self._seen = {}, {}
            if self._owner is None:
                return
            try:
                shutil.rmtree(self.directory, ignore_errors=True)
            finally:
                os.close(self._owner)  # after the removal: no one may take it half removed
                self._owner = None


def _write(spool_file: SpoolFile, data: bytes) -> None:
    try:
        spool_file.handle.write(data)
    except OSError as error:  # the OS names no file for a write: say which
        raise SpoolError.writing(spool_file.path, error) from error


def _close(spool_file: SpoolFile) -> None:
    """Close a file (its last buffered bytes are written now, and may not fit)."""
    try:
        spool_file.handle.close()
    except OSError as error:
        raise SpoolError.writing(spool_file.path, error) from error


def listed_parents(table: str) -> str:
    """The key of `seen_ids` under which the parents whose `table` children were listed are."""
    return f"{table}.parents"


def is_stub(obj: dict[str, Any]) -> bool:
    """A deletion stub: what retrieving a deleted object answers, `{id, object, deleted}`."""
    return bool(obj.get("deleted")) and len(obj) <= 3


def _seen_rows(ids: list[str], parents: list[str | None], created: list[int | None]) -> bytes:
    """Lines of a seen-ids file: id, parent id, created (serialized outside the lock)."""
    return b"".join(
        orjson.dumps({"id": i, "p": p, "c": c}) + b"\n"
        for i, p, c in zip(ids, parents, created, strict=True)
    )
