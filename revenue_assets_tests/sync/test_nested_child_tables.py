"""Child tables that their parents do not embed (a customer's balance transactions and payment
methods, a setup intent's attempts), synced from the sandbox over real HTTP: they hold what the
child endpoints serve for every parent that says it may have children, no other parent costs a
request, a child that is gone is marked deleted at the next re-list, a parent's event brings its
new children, and a key that may not read one fails that table alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from revenue_assets.catalog.pages import PARENT_FIELDS, read_page
from revenue_assets.catalog.tables import CHILD_TABLES, PERMISSIONS, TABLES_BY_NAME, ChildTable
from revenue_assets.ingest.events_pull import pull_forward
from revenue_assets.ingest.sync import SyncTarget, apply_events
from revenue_assets.state.store import StateStore
from revenue_assets_tests.helpers import (
    access_for,
    sandbox_partitions,
    served,
    sync_sandbox,
    warehouse_rows,
)

NESTED = [
    "customer_balance_transaction",
    "payment_method",
    "setup_attempt",
    "credit_balance_transaction",
]
PARENTS = [TABLES_BY_NAME[name] for name in ("customer", "setup_intent", "credit_grant")]
# Every credit grant has transactions (its credit at least): none is skipped.
EVERY_PARENT_ASKED = {"credit_balance_transaction"}


def children_served(sandbox: Any, child: ChildTable, parent: dict[str, Any]) -> dict[str, dict]:
    """A parent's children as the child endpoint serves them."""
    path = child.path.format(id=parent["id"])
    return served(sandbox, path, **child.query(parent["id"], parent))


def expected_rows(sandbox: Any, name: str) -> tuple[dict[str, dict], int, int]:
    """The rows a sync must hold (`parent/id` -> object) for the parents that say they may
    have children; and how many parents do and do not say so."""
    parent, child = CHILD_TABLES[name]
    rows: dict[str, dict] = {}
    asked = skipped = 0
    for parent_id, obj in served(sandbox, parent.path).items():
        if not child.may_have_children(obj):
            skipped += 1
            continue
        asked += 1
        for child_id, entry in children_served(sandbox, child, obj).items():
            rows[f"{parent_id}/{child_id}"] = entry
    return rows, asked, skipped


def test_every_nested_child_table_is_tested_here() -> None:
    nested = {name for name, (_, child) in CHILD_TABLES.items() if not child.embedded}
    assert nested == set(NESTED)


def test_a_list_page_says_which_parents_may_have_children() -> None:
    """The listing reads only a few fields of each page: those `listed_for` names must be
    among them, and read the way a parent's payload is read in an event."""
    for name in NESTED:
        assert set(CHILD_TABLES[name][1].listed_for) <= set(PARENT_FIELDS), name
    customers = [
        {"id": "cus_credit", "balance": -500, "invoice_settings": {"default_payment_method": None}},
        {"id": "cus_none", "balance": 0, "invoice_settings": {"default_payment_method": None}},
        {"id": "cus_card", "balance": 0, "invoice_settings": {"default_payment_method": "pm_1"}},
        {"id": "cus_source", "balance": 0, "default_source": "card_1", "invoice_settings": {}},
    ]
    page = read_page(orjson.dumps({"object": "list", "data": customers, "has_more": False}))
    for name in ("customer_balance_transaction", "payment_method"):
        child = CHILD_TABLES[name][1]
        from_page = {
            page.ids[i]
            for i, fields in enumerate(page.parent_fields)
            if child.may_have_children(fields)
        }
        from_payloads = {c["id"] for c in customers if child.may_have_children(c)}
        assert from_page == from_payloads, name
    assert from_page == {"cus_card", "cus_source"}


@pytest.fixture(scope="module")
def synced(sandbox_session_factory, tmp_path_factory):
    sandbox = sandbox_session_factory()
    # A card never entered: a setup intent without any attempt (the company confirms all).
    sandbox.client().v1.setup_intents.create({"usage": "off_session"})
    database = tmp_path_factory.mktemp("nested") / "warehouse.duckdb"
    outcomes = sync_sandbox(sandbox, database, tables=PARENTS)
    return sandbox, database, outcomes


@pytest.mark.parametrize("name", NESTED)
def test_rows_are_what_the_child_endpoint_serves_for_parents_that_have_any(
    synced, name: str
) -> None:
    sandbox, database, outcomes = synced
    parent, _ = CHILD_TABLES[name]
    outcome = outcomes[parent.name]
    assert outcome.ok and not outcome.child_errors, (outcome.error, outcome.child_errors)
    expected, asked, skipped = expected_rows(sandbox, name)
    # The company has both kinds of parents, and children to hold.
    assert expected and asked, (len(expected), asked)
    assert (skipped == 0) == (name in EVERY_PARENT_ASKED), skipped
    rows = warehouse_rows(database, name)
    assert set(rows) == set(expected)
    for key, obj in expected.items():
        assert rows[key]["_raw"] == obj
        assert not rows[key]["_deleted"]
    # One request per parent that says it may have children (none has 100): none for others.
    assert outcome.child_stats[name].calls == asked


def test_a_balance_back_at_zero_keeps_its_transactions_and_a_detached_card_is_gone(
    sandbox, tmp_path: Path
) -> None:
    """A re-list compares a parent's children only when they were listed: a customer whose
    balance went back to zero is not asked, so its transactions stay; a detached payment
    method leaves its customer's list, so its row is marked deleted."""
    database = tmp_path / "warehouse.duckdb"
    client = sandbox.client()
    customer = client.v1.customers.create({"name": "Credit then spend"})
    client.v1.customers.balance_transactions.create(
        customer.id, {"amount": -1500, "currency": "usd"}
    )
    # A saved card besides the customer's default one (detaching the default would leave
    # the customer with none, and no longer asked).
    method = next(
        pm
        for cus in served(sandbox, "/v1/customers").values()
        if (default := cus["invoice_settings"]["default_payment_method"])
        for pm in children_served(sandbox, CHILD_TABLES["payment_method"][1], cus).values()
        if pm["id"] != default
    )
    assert all(o.ok for o in sync_sandbox(sandbox, database, tables=PARENTS).values())
    credits = [
        k for k in warehouse_rows(database, "customer_balance_transaction") if customer.id in k
    ]
    assert len(credits) == 1

    # -1500 + 1500 = 0: the customer no longer says it has any.
    client.v1.customers.balance_transactions.create(
        customer.id, {"amount": 1500, "currency": "usd"}
    )
    client.v1.payment_methods.detach(method["id"])
    outcomes = sync_sandbox(sandbox, database, tables=PARENTS)
    assert all(o.ok for o in outcomes.values())
    transactions = warehouse_rows(database, "customer_balance_transaction")
    assert not transactions[credits[0]]["_deleted"]
    assert outcomes["customer"].marked_deleted["customer_balance_transaction"] == 0
    methods = warehouse_rows(database, "payment_method")
    assert methods[f"{method['customer']}/{method['id']}"]["_deleted"]
    assert outcomes["customer"].marked_deleted["payment_method"] == 1


def test_a_parents_event_brings_its_new_children(sandbox, tmp_path: Path) -> None:
    """A balance adjustment changes the customer (`customer.updated`): applying that event
    lists the customer's transactions, the new one among them."""
    database, state = tmp_path / "warehouse.duckdb", tmp_path / "state.sqlite"
    access = access_for(sandbox)
    assert all(o.ok for o in sync_sandbox(sandbox, database, tables=PARENTS).values())
    inbox = StateStore(state)
    _, cursor = pull_forward(access, inbox, {"created": int(sandbox.world.now)})
    client = sandbox.client()
    customer = next(iter(served(sandbox, "/v1/customers")))
    credit = client.v1.customers.balance_transactions.create(
        customer, {"amount": -700, "currency": "usd"}
    )
    pulled, _ = pull_forward(access, inbox, cursor)
    assert pulled
    outcomes = apply_events(
        access,
        SyncTarget(database),
        inbox,
        [TABLES_BY_NAME["customer"]],
        sandbox_partitions(sandbox),
    )
    assert outcomes["customer"].ok and outcomes["customer"].events_applied
    rows = warehouse_rows(database, "customer_balance_transaction")
    assert rows[f"{customer}/{credit.id}"]["amount"] == -700
    assert warehouse_rows(database, "customer")[customer]["balance"] == credit.ending_balance


def test_a_key_that_may_not_read_payment_methods_fails_that_table_alone(
    synced, tmp_path: Path
) -> None:
    sandbox, _, _ = synced
    database = tmp_path / "warehouse.duckdb"
    key = sandbox.restricted_key(sorted(set(PERMISSIONS) - {"rak_payment_method_read"}))
    outcomes = sync_sandbox(sandbox, database, tables=PARENTS, access=access_for(sandbox, key=key))
    customers = outcomes["customer"]
    assert customers.ok, customers.error
    assert set(customers.child_errors) == {"payment_method"}
    error = customers.child_errors["payment_method"]
    assert "rak_payment_method_read" in str(error)
    assert warehouse_rows(database, "customer") and warehouse_rows(
        database, "customer_balance_transaction"
    )
    # Nothing of the failed table is taken for gone.
    assert "payment_method" not in customers.marked_deleted
