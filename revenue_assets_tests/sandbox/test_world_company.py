"""The generated company: deterministic, and internally consistent the way Stripe's data is.

One company of a few hundred customers is generated per module and checked object by object:
invoice totals equal their lines, every charge has its balance transaction, refunds and payouts
reconcile with the balance, and every scenario a revenue warehouse must handle occurs.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from revenue_assets.sandbox import company
from revenue_assets.sandbox.store import Store
from revenue_assets.sandbox.world import CompanySpec, World

NOW = 1_780_000_000  # a fixed clock: same spec, same bytes
DAY = 86_400


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    world = World.generate(
        CompanySpec(seed=7, customers=500, months=24, now=NOW, connected_accounts=2)
    )
    yield world
    world.close()


def _all(world: World, kind: str, account: str | None = None) -> list[dict[str, Any]]:
    return list(world.store.iter_objects(kind, account))


def _children(store: Store, parent: str, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in (store.get(i) for i in store.ids(kind, parent=parent)) if obj]


def _digest(path: str) -> str:
    store = Store(path)
    try:
        digest = hashlib.sha256()
        for row in store._connection().execute(
            "SELECT seq, id, account, kind, created, parent, deleted, body FROM objects ORDER BY seq"
        ):
            digest.update(orjson.dumps(row[:-1]))
            digest.update(row[-1])
        for row in store._connection().execute(
            "SELECT key, account, due FROM schedule ORDER BY key"
        ):
            digest.update(orjson.dumps(row))
        return digest.hexdigest()
    finally:
        store.close()


def test_same_spec_same_store_bytes_in_one_or_two_processes(tmp_path: Any) -> None:
    def run(name: str, processes: int) -> str:
        path = str(tmp_path / name)
        company.generate(
            seed=3,
            customers_count=240,
            months=12,
            now=NOW,
            connected_accounts=1,
            api_version="2026-10-28.endive",
            path=path,
            processes=processes,
            chunk=40,
        )
        return _digest(path)

    first = run("a.sqlite", 1)
    assert first == run("b.sqlite", 1)
    assert first == run("c.sqlite", 2)  # worker processes take turns: same rows, same order
    other_seed = str(tmp_path / "d.sqlite")
    company.generate(
        seed=4,
        customers_count=240,
        months=12,
        now=NOW,
        connected_accounts=1,
        api_version="2026-10-28.endive",
        path=other_seed,
        processes=1,
        chunk=40,
    )
    assert _digest(other_seed) != first


def test_invoice_totals_equal_their_lines(world: World) -> None:
    store = world.store
    checked = with_tax = with_invoice_discount = with_line_discount = 0
    for invoice in _all(world, "invoice"):
        if invoice.get("deleted"):
            continue
        lines = _children(store, invoice["id"], "line_item")
        lines = [line for line in lines if not line.get("deleted")]
        assert invoice["subtotal"] == sum(line["amount"] for line in lines)
        by_discount: Counter[str] = Counter()
        tax = 0
        for line in lines:
            assert line["subtotal"] == line["amount"]
            for entry in line["discount_amounts"]:
                assert entry["amount"] > 0
                by_discount[entry["discount"]] += entry["amount"]
            tax += sum(entry["amount"] for entry in line["taxes"])
            if line["discounts"]:
                with_line_discount += 1
        totals = {entry["discount"]: entry["amount"] for entry in invoice["total_discount_amounts"]}
        assert totals == dict(by_discount)
        discounts = sum(totals.values())
        assert sum(entry["amount"] for entry in invoice["total_taxes"]) == tax
        assert invoice["total_excluding_tax"] == invoice["subtotal"] - discounts
        assert invoice["total"] == invoice["subtotal"] - discounts + tax
        if invoice["status"] == "paid":
            assert invoice["amount_paid"] == invoice["amount_due"]
            assert invoice["amount_remaining"] == 0
            assert invoice["amount_due"] == max(0, invoice["total"] + invoice["starting_balance"])
        embedded = invoice["lines"]
        assert [line["id"] for line in embedded["data"]] == [line["id"] for line in lines[:10]]
        assert embedded["has_more"] == (len(lines) > 10)
        assert embedded["url"] == f"/v1/invoices/{invoice['id']}/lines"
        with_tax += bool(tax)
        with_invoice_discount += bool(invoice["discounts"] and discounts)
        checked += 1
    assert checked > 500
    assert with_tax > 20
    assert with_invoice_discount > 10
    assert with_line_discount > 0


def test_current_api_shapes(world: World) -> None:
    invoice = next(i for i in _all(world, "invoice") if i["billing_reason"] == "subscription_cycle")
    assert "subscription" not in invoice and "charge" not in invoice and "paid" not in invoice
    assert invoice["parent"]["type"] == "subscription_details"
    assert invoice["parent"]["subscription_details"]["subscription"].startswith("sub_")
    line = invoice["lines"]["data"][0]
    assert line["object"] == "line_item" and line["id"].startswith("il_")
    assert line["parent"]["subscription_item_details"]["subscription_item"].startswith("si_")
    assert line["pricing"]["price_details"]["price"].startswith("price_")
    assert line["pricing"]["price_details"]["product"].startswith("prod_")
    subscription = _all(world, "subscription")[0]
    assert "current_period_end" not in subscription and "plan" not in subscription
    item = subscription["items"]["data"][0]
    assert item["current_period_start"] < item["current_period_end"]
    charge = next(c for c in _all(world, "charge") if c["payment_intent"])
    assert "invoice" not in charge
    payment = _all(world, "invoice_payment")[0]
    assert payment["payment"]["payment_intent"].startswith("pi_")
    intent = world.store.get(payment["payment"]["payment_intent"])
    assert intent is not None and intent["latest_charge"].startswith("ch_")
    prefixes = {
        "customer": "cus_", "subscription": "sub_", "subscription_item": "si_", "invoice": "in_",
        "line_item": "il_", "invoiceitem": "ii_", "charge": "ch_", "payment_intent": "pi_",
        "balance_transaction": "txn_", "refund": "re_", "dispute": "dp_", "payout": "po_",
        "credit_note": "cn_", "credit_note_line_item": "cnli_", "product": "prod_",
        "price": "price_", "discount": "di_", "event": "evt_", "invoice_payment": "inpay_",
    }  # fmt: skip
    for kind, prefix in prefixes.items():
        objects = _all(world, kind)
        assert objects, kind
        assert all(obj["id"].startswith(prefix) for obj in objects), kind


def test_every_charge_has_its_balance_transaction_and_refunds_reconcile(world: World) -> None:
    store = world.store
    refunded = partial = disputed = converted = 0

    def settled(amount: int, currency: str, txn: dict) -> bool:
        """The transaction books `amount`: as is, or (a KWD payment: Stripe settles no account
        in dinars) in the US account's dollars at the transaction's exchange_rate."""
        if txn["exchange_rate"] is None:
            return txn["currency"] == currency and txn["amount"] == amount
        exact = amount / 1000 * txn["exchange_rate"] * 100  # fils → KWD → USD → cents
        return (currency, txn["currency"]) == ("kwd", "usd") and abs(txn["amount"] - exact) <= 0.5

    for charge in _all(world, "charge"):
        if charge["status"] == "failed":  # declined: no money moved, nothing booked
            assert charge["balance_transaction"] is None and not charge["paid"]
            continue
        txn = store.get(charge["balance_transaction"])
        assert txn is not None and txn["source"] == charge["id"] and txn["type"] == "charge"
        assert settled(charge["amount"], charge["currency"], txn)
        converted += txn["exchange_rate"] is not None
        assert txn["fee"] == sum(fee["amount"] for fee in txn["fee_details"]) > 0
        assert txn["net"] == txn["amount"] - txn["fee"]
        refunds = _children(store, charge["id"], "refund")
        assert sum(refund["amount"] for refund in refunds) == charge["amount_refunded"]
        assert charge["amount_refunded"] <= charge["amount"]
        assert charge["refunded"] == (charge["amount_refunded"] == charge["amount"])
        for refund in refunds:
            refund_txn = store.get(refund["balance_transaction"])
            assert refund_txn is not None and settled(
                -refund["amount"], refund["currency"], refund_txn
            )
            assert refund_txn["type"] == "refund"
        refunded += charge["refunded"]
        partial += 0 < charge["amount_refunded"] < charge["amount"]
        disputed += charge["disputed"]
    assert refunded and partial and disputed and converted
    for dispute in _all(world, "dispute"):
        txn = dispute["balance_transactions"][0]
        assert settled(-dispute["amount"], dispute["currency"], txn) and txn["fee"] > 0
        assert store.get(txn["id"]) == txn


def test_payouts_pay_out_the_net_of_the_balance(world: World) -> None:
    for account in (world.account_id, *world.connected_account_ids):
        transactions = [
            t for t in _all(world, "balance_transaction", account) if t["type"] != "payout"
        ]
        payouts = sorted(
            _all(world, "payout", account), key=lambda p: (p["currency"], p["created"])
        )
        assert payouts
        previous: dict[str, int] = {}
        for payout in payouts:
            currency = payout["currency"]
            since = previous.get(currency, 0)
            expected = sum(
                t["net"]
                for t in transactions
                if t["currency"] == currency and since <= t["available_on"] < payout["created"]
            )
            assert payout["amount"] == expected > 0
            txn = world.store.get(payout["balance_transaction"])
            assert txn is not None and txn["amount"] == -payout["amount"]
            assert payout["status"] == ("paid" if payout["arrival_date"] <= NOW else "in_transit")
            previous[currency] = payout["created"]


def test_credit_notes_and_prorations(world: World) -> None:
    notes = _all(world, "credit_note")
    assert notes
    for note in notes:
        lines = _children(world.store, note["id"], "credit_note_line_item")
        taxes = sum(t["amount"] for line in lines for t in line["taxes"])
        assert note["subtotal"] == sum(line["amount"] for line in lines)
        assert note["total"] == note["subtotal"] + taxes == note["amount"]
        if note["refunds"]:
            refund = world.store.get(note["refunds"][0]["refund"])
            assert refund is not None and refund["amount"] == note["total"]
    prorations = [
        line
        for line in _all(world, "line_item")
        if (line["parent"].get("subscription_item_details") or {}).get("proration")
    ]
    credits = [line for line in prorations if line["description"].startswith("Unused time")]
    debits = [line for line in prorations if line["description"].startswith("Remaining time")]
    assert credits and debits
    assert all(line["amount"] < 0 for line in credits)
    assert all(line["amount"] > 0 for line in debits)
    credited = [
        line
        for line in credits
        if line["parent"]["subscription_item_details"]["proration_details"]["credited_items"]
    ]
    assert credited


def test_catalog_and_currencies(world: World) -> None:
    prices = _all(world, "price")
    live = [p for p in prices if not p.get("deleted")]
    intervals = {
        (p["recurring"]["interval"], p["recurring"]["interval_count"])
        for p in live
        if p["recurring"]
    }
    assert {("month", 1), ("year", 1), ("week", 1), ("month", 3), ("month", 6)} <= intervals
    assert any(p["type"] == "one_time" for p in live)
    currencies = {invoice["currency"] for invoice in _all(world, "invoice")}
    assert {"usd", "eur", "gbp", "jpy", "kwd"} <= currencies
    jpy = next(p for p in live if p["currency"] == "jpy" and p["nickname"] == "Pro monthly")
    kwd = next(p for p in live if p["currency"] == "kwd" and p["nickname"] == "Pro monthly")
    assert jpy["unit_amount"] == 7_350  # ¥7,350 (zero-decimal), about $49
    assert kwd["unit_amount"] == 15_200  # KWD 15.200 (three decimals)
    used = Counter(
        item["price"]["recurring"]["interval"]
        for sub in _all(world, "subscription")
        for item in sub["items"]["data"]
    )
    assert used["month"] and used["year"] and used["week"]
    coupons = {c["id"]: c for c in _all(world, "coupon") if not c.get("deleted")}
    assert {c["duration"] for c in coupons.values()} == {"once", "repeating", "forever"}
    assert any(c["amount_off"] for c in coupons.values()) and any(
        c["percent_off"] for c in coupons.values()
    )
    assert sum(c["times_redeemed"] for c in coupons.values()) > 0
    # Promotion codes on some coupons (one inactive); some subscriptions' discounts came from
    # a code, and each code counts the discounts naming it.
    codes = {c["id"]: c for c in _all(world, "promotion_code", world.account_id)}
    assert {c["promotion"]["coupon"] for c in codes.values()} < set(coupons)
    assert not all(c["active"] for c in codes.values())
    typed = Counter(
        d["promotion_code"]
        for d in _all(world, "discount", world.account_id)
        if d["promotion_code"] and d["subscription"]
    )
    assert typed and set(typed) <= {i for i, c in codes.items() if c["active"]}
    for code_id, count in typed.items():
        assert codes[code_id]["times_redeemed"] == count
    rates = _all(world, "shipping_rate", world.account_id)
    assert {r["active"] for r in rates} == {True, False}
    assert all(r["fixed_amount"]["amount"] > 0 and r["delivery_estimate"] for r in rates)
    for kind in ("product", "price", "coupon"):
        deleted = [obj for obj in _all(world, kind) if obj.get("deleted")]
        assert deleted, kind
        assert set(deleted[0]) == {"id", "object", "deleted"}


def test_lifecycles_occur(world: World) -> None:
    subscriptions = _all(world, "subscription")
    statuses = Counter(sub["status"] for sub in subscriptions)
    assert statuses["active"] and statuses["canceled"] and statuses["trialing"] + statuses["paused"]
    assert any(sub["trial_start"] for sub in subscriptions)
    assert any(sub["cancel_at_period_end"] and sub["status"] == "canceled" for sub in subscriptions)
    assert any(
        not sub["cancel_at_period_end"] and sub["status"] == "canceled" for sub in subscriptions
    )
    by_customer = defaultdict(list)
    for sub in subscriptions:
        by_customer[sub["customer"]].append(sub)
    assert any(
        len(subs) > 1 and any(s["status"] == "canceled" for s in subs)
        for subs in by_customer.values()
    )
    reasons = Counter(invoice["billing_reason"] for invoice in _all(world, "invoice"))
    assert reasons["subscription_create"] and reasons["subscription_cycle"] and reasons["manual"]
    assert reasons["subscription_update"]
    statuses = Counter(invoice["status"] for invoice in _all(world, "invoice"))
    assert statuses["paid"] and (statuses["void"] + statuses["uncollectible"] + statuses["draft"])
    big = [i for i in _all(world, "invoice") if i["lines"]["has_more"]]
    assert big
    assert len(_children(world.store, big[0]["id"], "line_item")) > 10


def test_deleted_customers_retrieve_as_deleted_and_vanish_from_lists(world: World) -> None:
    store = world.store
    deleted = [c for c in _all(world, "customer", world.account_id) if c.get("deleted")]
    assert deleted
    assert deleted[0] == {"id": deleted[0]["id"], "object": "customer", "deleted": True}
    listed: set[str] = set()
    cursor = None
    while True:
        page = store.list_page(world.account_id, "customer", limit=100, starting_after=cursor)
        ids = [orjson.loads(body)["id"] for body in page.bodies]
        listed.update(ids)
        if not page.has_more:
            break
        cursor = ids[-1]
    assert not listed & {c["id"] for c in deleted}
    assert len(listed) == store.count("customer", world.account_id, deleted=False)


def test_person_metadata_placements(world: World) -> None:
    key = "posthog_person_distinct_id"
    customers = {c["id"]: c for c in _all(world, "customer") if not c.get("deleted")}
    on_customer = {cid for cid, c in customers.items() if key in c["metadata"]}
    on_subscription = {
        s["customer"] for s in _all(world, "subscription") if key in s["metadata"]
    } - on_customer
    on_charge = (
        {c["customer"] for c in _all(world, "charge") if c["customer"] and key in c["metadata"]}
        - on_customer
        - on_subscription
    )
    assert on_customer and on_subscription & customers.keys() and on_charge & customers.keys()
    assert any("posthog_group_key" in c["metadata"] for c in customers.values())
    assert all(c["email"] and "@" in c["email"] for c in customers.values())


def test_events_cover_only_the_last_30_days(world: World) -> None:
    events = _all(world, "event")
    assert len(events) > 100
    assert min(e["created"] for e in events) >= NOW - 30 * DAY
    assert max(e["created"] for e in events) <= NOW
    types = {e["type"] for e in events}
    assert {
        "invoice.paid",
        "charge.succeeded",
        "customer.subscription.updated",
        "invoice_payment.paid",
    } <= types
    event = next(e for e in events if e["type"] == "invoice.paid")
    assert event["api_version"] == "2026-10-28.endive"
    assert event["data"]["object"]["status"] == "paid"
    assert event["request"] == {"id": None, "idempotency_key": None}
    connected = [e for e in events if e.get("account")]
    assert all(e["account"] in world.connected_account_ids for e in connected)


def test_connected_accounts_hold_their_own_customers(world: World) -> None:
    for account in world.connected_account_ids:
        assert 0 < world.store.count("customer", account) < 20
        assert world.store.get(account) is not None
    platform_customers = {c["id"] for c in _all(world, "customer", world.account_id)}
    other = {c["id"] for c in _all(world, "customer", world.connected_account_ids[0])}
    assert not platform_customers & other


def test_persons_behind_the_customers_match_metadata_and_emails(world: World) -> None:
    persons = list(world.persons())
    by_email = {person["email"]: person for person in persons}
    by_id = {person["distinct_id"]: person for person in persons}
    customers = [c for c in _all(world, "customer") if not c.get("deleted")]
    assert len(persons) >= len(customers)
    for customer in customers:
        person = by_email[customer["email"]]
        key = customer["metadata"].get("posthog_person_distinct_id")
        if key is not None:
            assert by_id[key] is person
        if "posthog_group_key" in customer["metadata"]:
            assert customer["metadata"]["posthog_group_key"] == person["group_key"]
    charge_ids = {
        c["metadata"]["posthog_person_distinct_id"]
        for c in _all(world, "charge")
        if "posthog_person_distinct_id" in c["metadata"]
    }
    assert charge_ids and charge_ids <= by_id.keys()


def test_a_tiny_company_still_has_every_scenario() -> None:
    world = World.generate(CompanySpec(seed=1, customers=12, months=1, now=NOW))
    try:
        store = world.store
        assert store.count("dispute") >= 2 and store.count("credit_note") >= 2
        charges = _all(world, "charge")
        assert any(c["refunded"] for c in charges)
        assert any(0 < c["amount_refunded"] < c["amount"] for c in charges)
        assert {d["status"] for d in _all(world, "dispute")} == {"won", "lost"}
        assert store.count("customer", deleted=True) >= 1
        assert any(i["lines"]["has_more"] for i in _all(world, "invoice"))
        assert any(s["items"]["has_more"] for s in _all(world, "subscription"))
        statuses = {s["status"] for s in _all(world, "subscription")}
        assert {"active", "canceled", "paused"} <= statuses
        assert any(line["amount"] < 0 for line in _all(world, "line_item"))
        assert {i["status"] for i in _all(world, "invoice")} >= {"paid", "void"}
        assert store.count("payout") > 0
        types = {e["type"] for e in _all(world, "event")}
        assert {"charge.dispute.created", "credit_note.created", "customer.deleted"} <= types
        assert {"customer.discount.created", "invoiceitem.created", "refund.created"} <= types
        # payments: intents, checkout, setup, radar, platform money movements
        reviews = _all(world, "review")
        assert {r["closed_reason"] for r in reviews} == {"approved", "refunded"}
        warnings = _all(world, "radar.early_fraud_warning")
        assert len(warnings) >= 2 and not any(w["actionable"] for w in warnings)
        for kind in ("transfer", "application_fee", "topup", "payment_intent"):
            assert store.count(kind) > 0, kind
    finally:
        world.close()


def test_connected_accounts_sell_their_own_catalog(world: World) -> None:
    for account in world.connected_account_ids:
        prices = {p["id"] for p in _all(world, "price", account)}
        assert prices
        for subscription in _all(world, "subscription", account):
            for item in subscription["items"]["data"]:
                assert item["price"]["id"] in prices
                assert world.store.get_body(item["price"]["product"], account) is not None
        coupons = [c["id"] for c in _all(world, "coupon", account)]
        assert coupons and not set(coupons) & {
            c["id"] for c in _all(world, "coupon", world.account_id)
        }


def test_rows_lie_in_list_order_and_keep_their_seq(tmp_path: Any) -> None:
    """A generated store's rows are laid out in list order (a list page reads a few adjacent
    table pages, not pages scattered over the file), every object keeps the `seq` of its generation order, and live
    writes after generation take the next `seq`, list newest first, and keep it when updated."""
    world = World.generate(
        CompanySpec(seed=5, customers=40, months=6, now=NOW), str(tmp_path / "c.sqlite")
    )
    try:
        connection = world.store._connection()
        physical = [s for (s,) in connection.execute("SELECT seq FROM objects ORDER BY rowid")]
        listed = connection.execute("SELECT seq FROM objects ORDER BY account, kind, created, seq")
        assert physical == [s for (s,) in listed]
        assert sorted(physical) == list(range(1, len(physical) + 1))
        for invoice in _all(world, "invoice"):  # child lists by seq: the order they were made in
            if not invoice.get("deleted"):
                lines = world.store.ids("line_item", parent=invoice["id"], include_deleted=True)
                assert lines[:10] == [line["id"] for line in invoice["lines"]["data"]]

        customer = world.create("customers", {"email": "new@example.com"})
        (seq,) = connection.execute("SELECT seq FROM objects WHERE id = ?", (customer["id"],))
        assert seq == (len(physical) + 1,)
        world.update("customers", customer["id"], {"name": "Renamed"})
        newest = world.store.list_page(world.account_id, "customer", limit=1)
        assert orjson.loads(newest.bodies[0])["name"] == "Renamed"
        assert (
            seq
            == connection.execute(
                "SELECT seq FROM objects WHERE id = ?", (customer["id"],)
            ).fetchone()
        )
    finally:
        world.close()


# -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --


def test_downgrades_and_cancellations_are_booked_as_schedules(world: World) -> None:
    """Some downgrades and cancellations wait for the end of the period as schedules; each
    ended exactly when its last phase did, and its subscription shows it. (A released one
    needs the clock past its second phase: test_world_clock lets the clock get there.)"""
    schedules = _all(world, "subscription_schedule", world.account_id)
    subscriptions = {s["id"]: s for s in _all(world, "subscription", world.account_id)}
    prices = {p["id"]: p for p in _all(world, "price", world.account_id)}
    assert {"completed", "active"} <= {s["status"] for s in schedules}
    assert {"cancel", "release"} <= {s["end_behavior"] for s in schedules}
    for schedule in schedules:
        phases = schedule["phases"]
        last_end = phases[-1]["end_date"]
        assert all(a["end_date"] == b["start_date"] for a, b in itertools.pairwise(phases))
        if schedule["status"] == "completed":
            subscription = subscriptions[schedule["subscription"]]
            assert schedule["end_behavior"] == "cancel" and len(phases) == 1
            assert subscription["status"] == "canceled"
            assert subscription["ended_at"] == last_end == schedule["completed_at"]
        elif schedule["status"] == "released":
            subscription = subscriptions[schedule["released_subscription"]]
            assert schedule["subscription"] is None and subscription["schedule"] is None
            assert schedule["released_at"] == last_end and len(phases) == 2
            before, after = (prices[phase["items"][0]["price"]] for phase in phases)
            assert after["unit_amount"] < before["unit_amount"]  # a downgrade
        elif schedule["status"] == "active":
            subscription = subscriptions[schedule["subscription"]]
            assert subscription["schedule"] == schedule["id"]
            assert schedule["current_phase"]["end_date"] > world.now
            if schedule["end_behavior"] == "cancel":
                assert subscription["cancel_at"] == last_end
            else:  # a downgrade: the current price, then a cheaper one
                before, after = (prices[phase["items"][0]["price"]] for phase in phases)
                assert len(phases) == 2 and after["unit_amount"] < before["unit_amount"]
        else:  # canceled with its subscription, before its end
            subscription = subscriptions[schedule["subscription"]]
            assert schedule["status"] == "canceled" and subscription["status"] == "canceled"
            assert schedule["canceled_at"] == subscription["ended_at"] < last_end
