"""Display formatting of the dashboard's figures: how a number reads, never what it is.

Shared by the page (headline cards, tables) and the charts (axis prefixes, hover formats), so a
figure reads the same wherever it appears.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from revenue_assets.catalog.currencies import minor_digits

# Currencies whose symbol reads unambiguously; others show their ISO code.
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}

Number = Decimal | int | float


def digits(currency: str) -> int:
    """Fractional digits to show for an amount in `currency`: those of its minor unit."""
    return minor_digits(currency)


def prefix(currency: str) -> str:
    """What precedes an amount: a symbol, or the ISO code and a space."""
    return SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def money(value: Number | None, currency: str) -> str:
    """`$12,345.67`, `-$80.00`, `CHF 1,200.00`; an em dash when there is no value."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}{prefix(currency)}{abs(value):,.{digits(currency)}f}"


def percent(value: Number | None, places: int = 1) -> str:
    """A rate (0.0734) as `7.3%`; an em dash when undefined (no customers last month)."""
    if value is None:
        return "—"
    return f"{Decimal(value) * 100:,.{places}f}%"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def month(value: date | None) -> str:
    """`November 2026`."""
    return "—" if value is None else value.strftime("%B %Y")


def moment(value: datetime | float | None, never: str = "never") -> str:
    """A UTC instant as `2026-11-27 02:12 UTC` (Unix seconds accepted); `never` when None."""
    if value is None:
        return never
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def plain(value: Number | None) -> float | None:
    """A figure as a JSON number for a chart (charts only draw: precision beyond a float's is
    irrelevant to a pixel, and the exact value stays on the page's headline cards)."""
    return None if value is None else float(value)
