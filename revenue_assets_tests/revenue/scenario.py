"""Scenario helpers: a sandbox company built change by change, synced into a DuckDB file through
the real sync engine, then the revenue assets materialized on it with Dagster.

    scenario = Scenario(datetime(2024, 1, 10, 12, tzinfo=UTC))
    price = scenario.price(10_000)
    customer = scenario.customer()
    scenario.create("subscriptions", {"customer": customer["id"], "items": [{"price": price["id"]}]})
    scenario.advance_to(datetime(2024, 7, 15, tzinfo=UTC))
    warehouse = scenario.build(tmp_path)          # sync over HTTP + materialize
    warehouse.rows("SELECT month, original_mrr FROM revenue_analytics.mrr_history")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from revenue_assets.catalog.months import keys_between
from revenue_assets.catalog.tables import TABLES
from revenue_assets.defs.resources import RevenueResource, WarehouseResource
from revenue_assets.defs.revenue.assets import REVENUE_ASSETS
from revenue_assets.defs.revenue.checks import REVENUE_CHECKS
from revenue_assets.ingest.sync import month_partitions
from revenue_assets.revenue.tables import revenue_key
from revenue_assets.sandbox import billing, schedules
from revenue_assets.sandbox.runner import Sandbox
from revenue_assets.sandbox.world import CompanySpec, World
from revenue_assets_tests.helpers import sync_sandbox

# The raw tables the revenue layer reads (payouts, disputes and pending invoice items it does not).
REVENUE_INPUTS = [t for t in TABLES if t.name not in ("payout", "dispute", "invoiceitem")]


def ts(*parts: int) -> int:
    """Unix seconds of a UTC date-time given as (year, month, day[, hour, ...])."""
    return int(datetime(*parts, tzinfo=UTC).timestamp())


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass
class Warehouse:
    """A synced warehouse file and the revenue options it was materialized with."""

    database: Path
    as_of: datetime
    options: dict[str, Any] = field(default_factory=dict)
    result: dg.ExecuteInProcessResult | None = None

    def resources(self, **options: Any) -> dict[str, Any]:
        settings = {"as_of": self.as_of.isoformat(), **self.options, **options}
        return {
            "warehouse": WarehouseResource(database=str(self.database)),
            "revenue": RevenueResource(**settings),
        }

    def materialize(self, **options: Any) -> dg.ExecuteInProcessResult:
        """Every revenue asset and check, in one in-process run."""
        self.options.update(options)
        self.result = dg.materialize([*REVENUE_ASSETS, *REVENUE_CHECKS], resources=self.resources())
        return self.result

    def materialization(self, name: str) -> dg.AssetMaterialization:
        """The last run's materialization of `revenue_analytics.<name>` (one step builds all)."""
        assert self.result is not None
        return next(
            m
            for m in self.result.get_asset_materialization_events()
            if m.asset_key == revenue_key(name)
        ).materialization

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = duckdb.connect(str(self.database), read_only=True)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            return connection.execute(sql, list(params)).fetchall()
        finally:
            connection.close()

    def dicts(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        connection = duckdb.connect(str(self.database), read_only=True)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            cursor = connection.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def checks(self) -> dict[str, bool]:
        """Outcome of each finance check of the last materialization."""
        assert self.result is not None
        return {
            evaluation.check_name: evaluation.passed
            for evaluation in self.result.get_asset_check_evaluations()
        }


class Scenario:
    """An empty sandbox company whose clock starts at `start`, changed through the World API."""

    def __init__(self, start: datetime, seed: int = 7) -> None:
        self.start = start
        self.world = World.generate(
            CompanySpec(seed=seed, customers=0, months=1, now=int(start.timestamp()))
        )
        self._products: dict[str, dict[str, Any]] = {}

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.world.now, UTC)

    def advance_to(self, when: datetime) -> None:
        seconds = int(when.timestamp()) - self.world.now
        if seconds > 0:
            self.world.advance(seconds)

    def create(self, resource: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.world.create(resource, params)

    def update(self, resource: str, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.world.update(resource, object_id, params)

    def action(
        self, resource: str, object_id: str, action: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.world.action(resource, object_id, action, params or {})

    def price(
        self,
        unit_amount: int,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        product: str = "Pro",
    ) -> dict[str, Any]:
        """A price of the product named `product` (created on first use)."""
        if product not in self._products:
            self._products[product] = self.create("products", {"name": product})
        params: dict[str, Any] = {
            "product": self._products[product]["id"],
            "currency": currency,
            "unit_amount": unit_amount,
        }
        if interval is not None:
            params["recurring"] = {"interval": interval, "interval_count": interval_count}
        return self.create("prices", params)

    def customer(self, **params: Any) -> dict[str, Any]:
        return self.create("customers", {"name": "Customer", **params})

    def subscribe(self, customer: dict[str, Any], *prices: dict[str, Any], **params: Any) -> dict:
        items = [{"price": price["id"]} for price in prices]
        return self.create("subscriptions", {"customer": customer["id"], "items": items, **params})

    def book_downgrade(self, subscription_id: str, price: dict[str, Any]) -> dict[str, Any]:
        """A schedule from the subscription booking one period on `price` after the current one.

        The sandbox's `POST /v1/subscription_schedules` makes only the schedule that releases
        (phases cannot be sent), so this books the downgrade the way its generated company does,
        as one atomic change of the world."""

        def book(world: World, ledger: Any) -> dict[str, Any]:
            subscription = ledger.get(subscription_id)
            items = billing.items_of(ledger, subscription)
            return schedules.book(ledger, subscription, items, downgrade_to=ledger.get(price["id"]))

        return self.world._call(book, None)

    def sync(self, database: Path) -> Path:
        """Sync the company into `database` over HTTP with the real sync engine."""
        keys = keys_between(self.start, self.now)
        with Sandbox.start(self.world) as sandbox:
            outcomes = sync_sandbox(
                sandbox, database, tables=REVENUE_INPUTS, partitions=month_partitions(keys)
            )
        failed = {name: str(o.error) for name, o in outcomes.items() if not o.ok}
        assert not failed, failed
        return database

    def build(self, directory: Path, as_of: datetime | None = None, **options: Any) -> Warehouse:
        """Sync, then materialize every revenue asset and check (as of the sandbox clock)."""
        database = self.sync(directory / "warehouse.duckdb")
        warehouse = Warehouse(database, as_of or self.now, dict(options))
        result = warehouse.materialize()
        assert result.success
        return warehouse
