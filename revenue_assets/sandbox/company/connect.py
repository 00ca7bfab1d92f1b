"""The platform's Connect activity over the company's history: a monthly transfer to each
connected account, the application fees the platform takes on a few of their sales, and the
quarterly top-ups that fund the transfers (one of which the bank refuses).

A handful of objects a month: the tables exist with rows, the balance still reconciles (this
runs before the payouts, which pay out what these movements leave).
"""

from __future__ import annotations

from revenue_assets.sandbox import connect, money, payments
from revenue_assets.sandbox.company.plan import Generated, Plan
from revenue_assets.sandbox.ids import Ids
from revenue_assets.sandbox.ledger import MemoryLedger
from revenue_assets.sandbox.store import Row

TRANSFER = 25_000  # USD cents a connected account receives each month
TOPUP = 80_000  # USD cents the platform adds each quarter
FEE_PERCENT = 10  # the platform's cut of its partners' sales
SALES = (4_900, 14_900)  # what a connected account sells each month (USD cents)


def _ledger(plan: Plan, generated: Generated, account: str) -> MemoryLedger:
    ids = Ids.for_stream(plan.seed, f"connect/{account}")
    return MemoryLedger(
        account,
        ids,
        {},
        horizon=plan.now,
        platform=plan.platform,
        api_version=plan.api_version,
        balance=generated.balance,
        event_ids=ids,
    )


def platform_money(
    plan: Plan, generated: Generated
) -> tuple[list[Row], list[tuple[str, str, int]]]:
    """The rows of every account's Connect objects (their balance in `generated.balance`) and
    what the live world still has to do (a top-up pending at the clock)."""
    platform = _ledger(plan, generated, plan.platform)
    partners = {account: _ledger(plan, generated, account) for account in generated.connected}
    month = plan.start
    number = 0
    while month <= plan.now:
        if number % 3 == 0:
            platform.now = month
            amount = TOPUP + (number // 3 % 4) * 10_000  # a little more as the partners grow
            topup = connect.create_topup(platform, amount, "usd", description="Partner funding")
            answered = month + 2 * money.DAY
            if answered > plan.now:
                platform.schedule(topup["id"], answered)
            elif number == 3:
                platform.now = answered
                connect.fail_topup(platform, topup)
            else:
                platform.now = answered
                connect.succeed_topup(platform, topup)
        for index, (account, partner) in enumerate(partners.items()):
            when = month + (5 + index) * money.DAY
            if when > plan.now:
                continue
            platform.now = when
            group = f"partners-{number:03d}"
            connect.create_transfer(
                platform,
                TRANSFER,
                "usd",
                account,
                description="Monthly partner share",
                transfer_group=group,
            )
            for sale, amount in enumerate(SALES):
                partner.now = platform.now = when + (sale + 1) * money.DAY
                if partner.now > plan.now:
                    break
                charge, _ = payments.create_charge(
                    partner, None, amount, "usd", description="Partner sale"
                )
                fee = connect.collect_fee(platform, charge, account, amount * FEE_PERCENT // 100)
                charge.update(
                    application=fee["application"],
                    application_fee=fee["id"],
                    application_fee_amount=fee["amount"],
                )
                partner.put(charge)
        month = money.add_interval(month, "month", 1, plan.start)
        number += 1
    rows = platform.rows()
    for partner in partners.values():
        rows.extend(partner.rows())
    due = [(key, plan.platform, when) for key, when in platform.due.items()]
    return rows, due
