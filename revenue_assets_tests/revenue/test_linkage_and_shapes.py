"""Customer → person / group linkage against user files, and payloads of older API versions:
the same company read from current-shape rows and from legacy-shape rows gives the same numbers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from revenue_assets.defs.revenue.assets import file_version
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.warehouse.merge import merge_spool
from revenue_assets.warehouse.spool import SPOOL_FOLDER, Spool
from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc

LEGACY_VERSION = "2024-06-20"


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("linkage")
    s = Scenario(utc(2024, 3, 1))
    price = s.price(2_000)
    found: dict[str, Any] = {}
    found["on_customer"] = s.customer(
        email="x@example.com",
        metadata={"posthog_person_distinct_id": "p-customer", "posthog_group_key": "g-acme"},
    )
    s.subscribe(found["on_customer"], price)
    found["on_subscription"] = s.customer(email="y@example.com")
    s.subscribe(found["on_subscription"], price, metadata={"posthog_person_distinct_id": "p-sub"})
    found["on_charge"] = s.customer(email="z@example.com")
    s.create(
        "charges",
        {
            "amount": 5_000,
            "currency": "usd",
            "customer": found["on_charge"]["id"],
            "metadata": {"posthog_person_distinct_id": "p-charge", "posthog_group_key": "g-acme"},
        },
    )
    found["by_email"] = s.customer(email="Mail@Example.com")
    s.subscribe(found["by_email"], price)
    found["ambiguous"] = s.customer(email="twice@example.com")
    s.advance_to(utc(2024, 4, 15))
    persons = directory / "persons.csv"
    persons.write_text(
        "distinct_id,email,name\n"
        "p-customer,x@example.com,X\n"
        "p-mail,mail@example.com,M\n"
        "p-twice-1,twice@example.com,T1\n"
        "p-twice-2,twice@example.com,T2\n"
    )
    groups = directory / "groups.parquet"
    duckdb.sql(
        f"COPY (SELECT 'g-acme' AS group_key, 'Acme' AS name) TO '{groups}' (FORMAT parquet)"
    )
    warehouse = s.build(directory, persons_path=str(persons), groups_path=str(groups))
    return warehouse, found


def link(warehouse: Warehouse, customer: dict[str, Any]) -> dict[str, Any]:
    return warehouse.dicts(
        "SELECT * FROM revenue_analytics.customer_link WHERE customer_id = ?", customer["id"]
    )[0]


def test_person_links_in_order_of_preference(linked) -> None:
    warehouse, found = linked
    expected = {
        "on_customer": ("p-customer", "customer_metadata", True),
        "on_subscription": ("p-sub", "subscription_metadata", False),
        "on_charge": ("p-charge", "charge_metadata", False),
        "by_email": ("p-mail", "email", True),
        "ambiguous": (None, None, None),  # two persons share the email: no link
    }
    for name, (distinct_id, source, known) in expected.items():
        row = link(warehouse, found[name])
        assert (row["distinct_id"], row["link_source"], row["person_found"]) == (
            distinct_id,
            source,
            known,
        ), name


def test_group_links_and_group_revenue(linked) -> None:
    warehouse, found = linked
    assert link(warehouse, found["on_customer"])["group_link_source"] == "customer_metadata"
    assert link(warehouse, found["on_charge"])["group_link_source"] == "charge_metadata"
    groups = warehouse.dicts("SELECT * FROM revenue_analytics.groups_revenue")
    assert len(groups) == 1
    group = groups[0]
    assert group["group_key"] == "g-acme" and group["group_found"] is True
    assert group["customers"] == 2
    # two monthly invoices of $20 (Mar 1, Apr 1) + the $50 charge; MRR: the $20 subscription
    assert group["gross_revenue"] == Decimal("90")
    assert group["mrr"] == Decimal("20")


def test_persons_revenue(linked) -> None:
    warehouse, _ = linked
    persons = {
        row["distinct_id"]: row
        for row in warehouse.dicts("SELECT * FROM revenue_analytics.persons_revenue")
    }
    assert set(persons) == {"p-customer", "p-sub", "p-charge", "p-mail"}
    assert persons["p-sub"]["net_revenue"] == Decimal("40")
    assert persons["p-sub"]["mrr"] == Decimal("20")
    assert persons["p-charge"]["gross_revenue"] == Decimal("50")
    assert persons["p-charge"]["mrr"] == 0


def test_the_people_files_are_versioned_by_content(tmp_path: Path) -> None:
    path = tmp_path / "persons.csv"
    assert file_version(None) == "none"
    assert file_version(str(path)) == "missing"
    path.write_text("distinct_id\na\n")
    first = file_version(str(path))
    path.write_text("distinct_id\nb\n")
    assert file_version(str(path)) != first


# -- older API shapes ------------------------------------------------------------------------------


def overwrite_with_legacy_shapes(scenario: Scenario, database: Path) -> None:
    """Replace the synced rows by the same objects rendered in an older API version, as the
    event path writes them (an upsert with a newer snapshot version), and drop invoice payments,
    which older accounts do not have."""
    world = scenario.world
    current = world.event_api_version

    def render(obj: dict[str, Any]) -> dict[str, Any]:
        event = {"id": f"evt_legacy_{obj['id']}", "api_version": current, "data": {"object": obj}}
        return world.render_event(event, LEGACY_VERSION)["data"]["object"]

    def objects(kind: str) -> list[dict[str, Any]]:
        return list(world.store.iter_objects(kind, world.account_id, include_deleted=False))

    version = time.time() + 3600
    spool = Spool(database.parent / SPOOL_FOLDER, source="event")
    try:
        parents: dict[str, int] = {}
        for kind in ("invoice", "subscription", "charge"):
            legacy = [render(obj) for obj in objects(kind)]
            parents.update({obj["id"]: obj["created"] for obj in legacy})
            spool.objects(kind, legacy, version=version)
        for kind, table, parent_field in (
            ("line_item", "invoice_line_item", "invoice"),
            ("subscription_item", "subscription_item", "subscription"),
        ):
            by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for obj in objects(kind):
                by_parent[obj[parent_field]].append(render(obj))
            for parent, children in by_parent.items():
                spool.objects(table, children, version=version, parent=(parent, parents[parent]))
        files = spool.rotate()
        with warehouse_connection(database) as connection:
            for table, path in files.items():
                merge_spool(connection, "stripe", table, path)
            connection.execute("DELETE FROM stripe.invoice_payment")
    finally:
        spool.close()


COMPARED = {
    "revenue_item": """SELECT id, kind, original_amount, product_id, subscription_id, customer_id,
        invoice_id, is_recurring FROM revenue_analytics.revenue_item ORDER BY id""",
    "mrr_history": """SELECT subscription_id, month, original_mrr, movement
        FROM revenue_analytics.mrr_history ORDER BY ALL""",
    "charge": "SELECT id, invoice_id, original_amount FROM revenue_analytics.charge ORDER BY id",
    "subscription": """SELECT id, plan_id, product_id, status, current_period_start,
        current_period_end, interval FROM revenue_analytics.subscription ORDER BY id""",
    "deferred_revenue": """SELECT invoice_item_id, month, recognized_original_amount,
        deferred_original_amount FROM revenue_analytics.deferred_revenue ORDER BY ALL""",
}


def test_older_api_shapes_give_the_same_numbers(tmp_path: Path) -> None:
    s = Scenario(utc(2024, 1, 5))
    p100, p150 = s.price(10_000), s.price(15_000)
    coupon = s.create("coupons", {"percent_off": 20, "duration": "forever"})
    sub = s.subscribe(s.customer(), p100, coupon=coupon["id"])
    s.subscribe(s.customer(), s.price(120_000, currency="jpy", interval="year", product="Yen"))
    s.create("charges", {"amount": 3_000, "currency": "usd", "customer": s.customer()["id"]})
    s.advance_to(utc(2024, 2, 20))
    item = sub["items"]["data"][0]["id"]
    s.update("subscriptions", sub["id"], {"items": [{"id": item, "price": p150["id"]}]})
    s.advance_to(utc(2024, 5, 10))
    warehouse = s.build(tmp_path)
    current = {name: warehouse.rows(sql) for name, sql in COMPARED.items()}
    assert current["mrr_history"] and current["revenue_item"]
    assert any(row[1] is not None for row in current["charge"])  # linked through payments
    coupon_sql = (
        "SELECT DISTINCT coupon_id FROM revenue_analytics.revenue_item WHERE subscription_id = ?"
    )
    # Current payloads only name discounts; the sync expands them, so the coupon is known.
    assert warehouse.rows(coupon_sql, sub["id"]) == [(coupon["id"],)]

    overwrite_with_legacy_shapes(s, warehouse.database)
    legacy_rows = warehouse.rows(
        "SELECT count(*) FROM stripe.invoice_line_item WHERE pricing IS NULL AND price IS NOT NULL"
    )
    assert legacy_rows[0][0] > 0
    assert warehouse.rows("SELECT count(*) FROM stripe.invoice WHERE parent IS NOT NULL") == [(0,)]
    assert warehouse.materialize().success
    legacy = {name: warehouse.rows(sql) for name, sql in COMPARED.items()}
    for name in COMPARED:
        assert legacy[name] == current[name], name
    assert all(warehouse.checks().values()), warehouse.checks()
    # Older payloads embed the discount object: the coupon is known there as well.
    assert warehouse.rows(coupon_sql, sub["id"]) == [(coupon["id"],)]
