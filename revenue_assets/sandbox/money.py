"""Money and calendar arithmetic of the billing engine: minor units, fees, rounding, periods.

Everything here is integer arithmetic on minor units, so that invoice totals, balance
transactions and payouts add up exactly (the invariants the tests check).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

DAY = 86_400
WEEK = 7 * DAY

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def minor_per_unit(currency: str) -> int:
    """How many minor units make one major unit (1 for JPY, 1000 for KWD, 100 otherwise)."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 1
    if currency in THREE_DECIMAL:
        return 1000
    return 100


# Approximate value of one US dollar, used only to derive catalog prices and fixed fees.
USD_RATE = {"usd": 1.0, "eur": 0.92, "gbp": 0.79, "jpy": 150.0, "kwd": 0.31, "cad": 1.37}


# Stripe settles no account in Kuwaiti dinars (no Stripe country uses them): a payment in one is
# converted into the account's settlement currency when booked, here the US dollar of the
# sandbox's US accounts. Other currencies settle as they are (as if the account had a bank
# account in each), which keeps their balances and payouts per currency.
CONVERTED_ON_SETTLEMENT = frozenset({"kwd"})
SETTLEMENT_CURRENCY = "usd"


def settlement_rate(currency: str) -> float | None:
    """Stripe's `exchange_rate` for booking `currency` (settlement units per unit, six decimals
    as Stripe reports it), or None when the payment settles in its own currency."""
    currency = currency.lower()
    if currency not in CONVERTED_ON_SETTLEMENT:
        return None
    return round(USD_RATE[SETTLEMENT_CURRENCY] / USD_RATE[currency], 6)


def settle(amount: int, currency: str, rate: float) -> int:
    """`amount` minor units of `currency` in the settlement currency's minor units at `rate`,
    rounded half away from zero (exact decimal arithmetic on the six-decimal rate)."""
    micro_rate = round(rate * 1_000_000)
    numerator = amount * micro_rate * minor_per_unit(SETTLEMENT_CURRENCY)
    return round_half_up(numerator, minor_per_unit(currency) * 1_000_000)


def from_usd_cents(cents: int, currency: str, nice: bool = True) -> int:
    """Convert a USD amount to a currency's minor units, rounded to a price-list-looking value."""
    major = cents / 100 * USD_RATE[currency]
    minor = major * minor_per_unit(currency)
    if not nice:
        return max(1, round(minor))
    step = {1: 10, 100: 100, 1000: 100}[minor_per_unit(currency)]
    return max(step, round(minor / step) * step)


def round_half_up(numerator: int, denominator: int) -> int:
    """Round a rational to the nearest integer, halves away from zero (Stripe's rounding)."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


def percent_of(amount: int, percent: float) -> int:
    """`percent`% of an amount in minor units, rounded half up (percent may have decimals)."""
    # Work in hundredths of a percent so that 25.5% stays exact.
    hundredths = round(percent * 100)
    return round_half_up(amount * hundredths, 10_000)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` over `weights` proportionally by cumulative rounding: the parts sum exactly."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0] * len(weights)
    parts, running, allocated = [], 0, 0
    for weight in weights:
        running += weight
        target = round_half_up(total * running, weight_sum)
        parts.append(target - allocated)
        allocated = target
    return parts


def stripe_fee(amount: int, currency: str) -> int:
    """Stripe's card processing fee: 2.9% + 30¢ (the fixed part converted to the currency)."""
    if amount <= 0:
        return 0
    fixed = from_usd_cents(30, currency, nice=False)
    return min(amount, percent_of(amount, 2.9) + fixed)


def dispute_fee(currency: str) -> int:
    """Stripe's dispute fee ($15) in the charge's currency."""
    return from_usd_cents(1500, currency, nice=False)


def day_floor(ts: int) -> int:
    return ts - ts % DAY


def available_on(created: int) -> int:
    """When a charge's funds become available: midnight UTC two days after (Stripe's standard)."""
    return day_floor(created) + 2 * DAY


def payout_window_end(available: int) -> int:
    """The automatic (weekly) payout that pays out funds available at `available`."""
    return (available // WEEK + 1) * WEEK


def add_interval(ts: int, interval: str, count: int, anchor: int) -> int:
    """The next period boundary after `ts`, keeping the billing anchor's day of month and time.

    Months are calendar months clamped to the month's length, as Stripe does (an anchor on the
    31st bills on the 30th in April and on the 28th/29th in February).
    """
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * WEEK
    months = count * (12 if interval == "year" else 1)
    current = datetime.fromtimestamp(ts, UTC)
    anchor_dt = datetime.fromtimestamp(anchor, UTC)
    month_index = current.year * 12 + current.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(anchor_dt.day, calendar.monthrange(year, month)[1])
    moved = datetime(
        year, month, day, anchor_dt.hour, anchor_dt.minute, anchor_dt.second, tzinfo=UTC
    )
    return int(moved.timestamp())


def prorate(amount: int, start: int, end: int, period_start: int, period_end: int) -> int:
    """The share of `amount` for [start, end) within a period, by the second (Stripe prorates so)."""
    length = period_end - period_start
    if length <= 0:
        return 0
    return round_half_up(amount * max(0, end - start), length)


def format_amount(amount: int, currency: str) -> str:
    """`$49.00`-like rendering for line descriptions (`¥2,900`, `KWD 15.000`)."""
    unit = minor_per_unit(currency)
    decimals = {1: 0, 100: 2, 1000: 3}[unit]
    value = f"{amount / unit:,.{decimals}f}"
    symbol = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}.get(currency.lower())
    return f"{symbol}{value}" if symbol else f"{currency.upper()} {value}"


def format_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y")
