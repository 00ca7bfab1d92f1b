"""What a revenue table's SQL reads, taken from the SQL itself.

A table's upstream tables were once a list kept by hand beside its SQL, and the two drifted
apart (a table read a raw table it did not depend on, so a change to that table never rebuilt
it). The SQL names every schema it reads through a `{stripe}` or `{revenue}` placeholder, so
those placeholders are the dependencies: read here, with comments stripped and the table's own
tokens filled, minus the macros (`macros.sql`) and whatever the file itself creates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from revenue_assets.warehouse.sql_files import SqlFiles

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_REFERENCE = re.compile(r"\{(stripe|revenue)\}\.([a-z_][a-z0-9_]*)")
_CREATED = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:TABLE|VIEW|MACRO)\s+"
    r"\{revenue\}\.([a-z_][a-z0-9_]*)",
    re.IGNORECASE,
)
MACROS_FILE = "macros"


def _code(text: str) -> str:
    return _COMMENT.sub(" ", text)


def _partial_fill(text: str, tokens: Mapping[str, str]) -> str:
    """`text` with the table's own tokens filled; the schema placeholders stay."""
    for token, value in tokens.items():
        text = text.replace("{" + token + "}", value)
    return text


def macros(files: SqlFiles) -> frozenset[str]:
    """The helpers `macros.sql` defines in the revenue schema (names, not tables)."""
    return frozenset(_CREATED.findall(_code(files.text(MACROS_FILE))))


def referenced_tables(
    files: SqlFiles, names: Iterable[str], tokens: Mapping[str, str] = {}
) -> tuple[frozenset[str], frozenset[str]]:
    """The raw (`{stripe}.x`) and revenue (`{revenue}.x`) tables the SQL files `names` read.

    Tables the files create themselves (the table built, a view beside it) and the shared
    macros are not reads.
    """
    texts = [_code(_partial_fill(files.text(name), tokens)) for name in names]
    created = {name for text in texts for name in _CREATED.findall(text)} | macros(files)
    raw: set[str] = set()
    revenue: set[str] = set()
    for text in texts:
        for schema, table in _REFERENCE.findall(text):
            if schema == "stripe":
                raw.add(table)
            elif table not in created:
                revenue.add(table)
    return frozenset(raw), frozenset(revenue)
