"""How many minor units Stripe counts in a currency's major unit.

Stripe sends every amount as an integer of minor units: cents for USD, yen for JPY (a
zero-decimal currency), thousandths for KWD (a three-decimal one). The revenue layer's SQL
converts with these lists (filled into its macros) and the dashboard shows as many digits, so
both read the same rule.
"""

from __future__ import annotations

ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def minor_digits(currency: str) -> int:
    """Decimal digits of the minor unit: 0, 2 or 3."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def sql_list(codes: frozenset[str]) -> str:
    """The codes as an SQL list of string literals (`'BHD', 'JOD'`), for `IN (...)`."""
    return ", ".join(f"'{code}'" for code in sorted(codes))
