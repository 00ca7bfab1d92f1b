"""Simulating the company: every customer's story run from sign-up to the clock (in chunks of
independent customers), then the weekly payouts of what their payments left on the balance.

Only small aggregates cross customers: the balance per payout window and coupon redemptions.
"""

from __future__ import annotations

import random
from collections import Counter

from revenue_assets.sandbox import money, payments
from revenue_assets.sandbox.company.plan import ChunkResult, Generated, Person, Plan
from revenue_assets.sandbox.company.story import SHOWCASES, Story
from revenue_assets.sandbox.ids import Ids
from revenue_assets.sandbox.ledger import MemoryLedger
from revenue_assets.sandbox.store import Row

# The plan of the current generation: a module global so forked workers inherit it rather than
# receiving the catalogs through a pipe for every chunk.
PLAN: Plan | None = None


def simulate_chunk(account: str, first: int, count: int) -> ChunkResult:
    plan = PLAN
    assert plan is not None, "simulate_chunk runs inside a generation (see `bulk_load`)"
    rows: list[Row] = []
    due: list[tuple[str, str, int]] = []
    balance: dict[tuple[str, str, int], int] = {}
    redemptions: Counter[str] = Counter()
    persons: list[Person] = []
    span = plan.now - plan.start - money.DAY
    for index in range(first, first + count):
        rng = random.Random(f"{plan.seed}/{account}/{index}")
        ids = Ids(rng)
        ledger = MemoryLedger(
            account,
            ids,
            plan.catalogs[account].objects,
            horizon=plan.now,
            platform=plan.platform,
            api_version=plan.api_version,
            balance=balance,
            event_ids=ids,
        )
        story = Story(plan, ledger, rng, account)
        if account == plan.platform and index < SHOWCASES:
            # Scripted stories in the last weeks: every scenario exists in any company.
            story.begin(
                max(plan.start + money.DAY, plan.now - 40 * money.DAY),
                country=("US", "usd"),
                card=index != 6,
            )
            story.showcase(index)
        else:
            # Growth: more customers sign up recently than at the start.
            story.begin(plan.start + int(span * rng.random() ** 0.35))
            story.plan_life()
        story.agenda.run()
        if account == plan.platform and index < SHOWCASES:
            # After the agenda: the quotes and credits draw ids only once every scripted step
            # has drawn its own, so the stories (and the revenue they make) stay the same.
            story.sales(index)
        persons.append(story.person())
        rows.extend(ledger.rows())
        due.extend((key, account, when) for key, when in ledger.due.items())
        for obj in ledger.objects_of_kind("discount"):
            redemptions[obj["source"]["coupon"]] += 1
            if obj["promotion_code"]:
                redemptions[obj["promotion_code"]] += 1
    return ChunkResult(rows, due, balance, redemptions, persons=persons)


def chunks(
    platform: str, customers_count: int, connected: list[str], chunk: int
) -> list[tuple[str, int, int]]:
    work = [
        (platform, first, min(chunk, customers_count - first))
        for first in range(0, customers_count, chunk)
    ]
    work += [(account, 0, 5 + index * 3) for index, account in enumerate(connected)]
    return work


def payouts(
    plan: Plan, generated: Generated, accounts: list[str]
) -> tuple[list[Row], list[tuple[str, str, int]]]:
    """Weekly automatic payouts of the available balance, per account and currency.

    A payout at week boundary T pays out the net of every balance transaction that became
    available since the previous payout of that currency (carrying non-positive weeks forward).
    What is not paid out by the clock's time stays in `generated.balance` for the live world.
    """
    rows: list[Row] = []
    due: list[tuple[str, str, int]] = []
    by_account_currency: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for (account, currency, window_end), amount in generated.balance.items():
        by_account_currency.setdefault((account, currency), []).append((window_end, amount))
    leftover: dict[tuple[str, str, int], int] = {}
    for account in accounts:
        ids = Ids.for_stream(plan.seed, f"payouts/{account}")
        ledger = MemoryLedger(
            account,
            ids,
            {},
            horizon=plan.now,
            platform=plan.platform,
            api_version=plan.api_version,
            balance={},
            event_ids=ids,
        )
        for currency in sorted({c for (a, c) in by_account_currency if a == account}):
            carried = 0
            for window_end, amount in sorted(by_account_currency[(account, currency)]):
                if window_end > plan.now:
                    leftover[(account, currency, window_end)] = (
                        leftover.get((account, currency, window_end), 0) + amount + carried
                    )
                    carried = 0
                    continue
                carried += amount
                if carried > 0:
                    ledger.now = window_end
                    payout = payments.create_payout(ledger, carried, currency, automatic=True)
                    if payout["arrival_date"] <= plan.now:
                        ledger.now = payout["arrival_date"]
                        payments.settle_payout(ledger, payout)
                    carried = 0
            if carried:
                window_end = money.payout_window_end(plan.now)
                key = (account, currency, window_end)
                leftover[key] = leftover.get(key, 0) + carried
        rows.extend(ledger.rows())
        due.extend((key, account, when) for key, when in ledger.due.items())
    generated.balance = leftover
    return rows, due
