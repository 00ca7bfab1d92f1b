"""Dagster's SQLite storage, with the event log writing a batch of events in one transaction.

A first sync of every Stripe table over a few years of monthly partitions yields hundreds of
materialization events (one per table and month) and dozens of planned events. The stock SQLite
event log writes each in its own transactions (the run's file, then the cross-run index), each
opening a fresh engine and committing: on a busy 2-core machine that was seconds of a sync spent
after the last page had arrived. Dagster already groups these events into batches
(`DAGSTER_EVENT_BATCH_SIZE`) and hands each batch to `store_event_batch`, whose default stores
them one by one; here a batch is stored by the stock code, event by event, but on connections
held open for the whole batch: one transaction per file instead of several per event.

The files, their schema and every row written are Dagster's own (this class only changes when
the transactions commit), so an instance created with the stock storage keeps its history when
it switches to this one, and back. If any event of a batch fails, the whole batch rolls back
and Dagster stores its events one by one instead.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from revenue_assets.instance.slot_claims import ExclusiveSlotClaims

# Events per batch. Dagster reads it from the environment only, in the process that runs the
# steps: a run worker that `dagster dev` launches builds this storage from the instance's
# dagster.yaml, so setting it here (unless the user chose a size) batches those runs too.
BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_BATCH_SIZE = "1000"


# Engines kept open: the index and the few runs being written (a webserver reads many runs).
KEPT_ENGINES = 4


def _relaxed_sync(dbapi_connection: Any, _record: Any) -> None:
    """In write-ahead-log mode (Dagster's), NORMAL syncs at checkpoints instead of at every
    commit: a crash of the machine may lose the last events, never corrupt the file."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class BatchedSqliteEventLogStorage(ExclusiveSlotClaims, SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `store_event_batch` commits once per file (see module),
    and whose pools' slots go to one step each (`ExclusiveSlotClaims`)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._batch = threading.local()  # the parent's constructor connects already
        self._tables: set[str] = set()
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data)
        # Reentrant, so that the stock code's own connections, opened while a batch holds the
        # lock, reuse the batch's instead of waiting on it.
        self._db_lock = threading.RLock()
        os.environ.setdefault(BATCH_SIZE_VARIABLE, DEFAULT_BATCH_SIZE)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def has_table(self, table_name: str) -> bool:
        """Asked for every asset event (a fresh connection each time): a table, once there,
        stays (migrations add tables), so a yes is remembered."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        held: dict[str, Any] | None = getattr(self._batch, "connections", None)
        if held is None:
            with self._transaction(shard) as connection:
                yield connection
            return
        if shard not in held:
            held[shard] = self._batch.stack.enter_context(self._transaction(shard))
        yield held[shard]

    @contextmanager
    def _transaction(self, shard: str) -> Iterator[Any]:
        """The stock connection (one transaction, under the storage's lock), from an engine
        kept for the shard instead of a fresh one each time: the stock storage opens and
        closes the SQLite file for every event, and closing the last connection checkpoints
        the write-ahead log, with an fsync each time."""
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():  # a forked child must not share the parent's
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            event.listen(engine, "connect", _relaxed_sync)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine  # most recent last
        while len(self._engines) > KEPT_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        super().dispose()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if getattr(self._batch, "connections", None) is not None:  # a batch within a batch
            super().store_event_batch(events)
            return
        with self._db_lock, ExitStack() as stack:
            self._batch.stack, self._batch.connections = stack, {}
            try:
                for event in events:
                    self.store_event(event)
            finally:
                # the connections commit (or roll back) as the stack closes, after this
                del self._batch.connections, self._batch.stack


class BatchedSqliteStorage(DagsterSqliteStorage):
    """Dagster's default storage (runs, schedules and event log in the same files under the
    instance's directory) with the batched event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Any
    ) -> BatchedSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
