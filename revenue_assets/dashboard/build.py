"""Build the dashboard page from a warehouse: the one function the asset and the CLI share.

The warehouse is read under its file lock (DuckDB allows one process per file), held only for
the queries; rendering and writing happen after it is released. The page is written to a
temporary file and renamed over the old one, so a browser never opens half a page.

Beside the page, a one-line script (the build stamp) names the build the page holds. The open
page loads that script every few seconds (a local file, the only request it makes): when it
names another build, the page reloads, so a dashboard left open follows the rebuilds the
daemon makes. The stamp is written after the page, so a reload always finds the new page.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from revenue_assets.dashboard.queries import DashboardData, load
from revenue_assets.dashboard.render import Freshness, render_page
from revenue_assets.warehouse.connection import DEFAULT_LOCK_TIMEOUT_S, warehouse_connection

FILE_NAME = "revenue_dashboard.html"


@dataclass(frozen=True)
class DashboardPage:
    """A page written to disk and what it shows."""

    path: Path
    data: DashboardData
    freshness: Freshness
    size_bytes: int

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()


def dashboard_path(database: str | Path, table_prefix: str | None = None) -> Path:
    """Where the page of a warehouse lives: beside the warehouse file (one page per prefix)."""
    name = f"revenue_dashboard_{table_prefix}.html" if table_prefix else FILE_NAME
    directory = Path.cwd() if str(database) == ":memory:" else Path(database).parent
    return directory / name


def last_webhook_at(state_path: str | Path | None) -> float | None:
    """When the webhook receiver last stored an event (None: never, or no state file yet).
    A missing state file is not created just to say so."""
    if state_path is None or not Path(state_path).is_file():
        return None
    from revenue_assets.state.store import StateStore

    inbox = StateStore(state_path)
    try:
        return inbox.health().last_webhook_at
    finally:
        inbox.close()


def build_dashboard(
    database: str | Path,
    *,
    stripe_schema: str,
    revenue_schema: str,
    base_currency: str,
    state_path: str | Path | None = None,
    output: str | Path | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> DashboardPage:
    """Query the warehouse, render the page and write it (default: beside the warehouse)."""
    with warehouse_connection(database, timeout_s=lock_timeout_s) as connection:
        data = load(
            connection,
            stripe_schema=stripe_schema,
            revenue_schema=revenue_schema,
            base_currency=base_currency,
        )
    freshness = Freshness(
        last_sync=data.last_sync,
        last_webhook=last_webhook_at(state_path),
        mrr_evaluated_at=data.mrr_evaluated_at,
        generated_at=datetime.now(UTC),
    )
    path = Path(output) if output is not None else dashboard_path(database)
    stamp = stamp_path(path)
    build_id = uuid.uuid4().hex
    html = render_page(data, freshness, build_id=build_id, build_stamp=stamp.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, html)
    _write_atomically(stamp, f"window.dashboardBuilt && window.dashboardBuilt({build_id!r});\n")
    return DashboardPage(path, data, freshness, path.stat().st_size)


def stamp_path(page: Path) -> Path:
    """The build stamp of a page: `<page name>.build.js` beside it."""
    return page.with_name(page.stem + ".build.js")


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".dashboard-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
