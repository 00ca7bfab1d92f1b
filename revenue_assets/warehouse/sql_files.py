"""The one way SQL files are read and filled in, for every package that keeps SQL beside it.

A file names what changes between runs (schemas, table names, generated column lists) as
`{token}` placeholders, replaced textually: they are identifiers or whole clauses, which DuckDB
cannot bind as parameters. Values stay bound parameters or DuckDB variables. Every placeholder
must be given: a forgotten one fails loudly here instead of reaching DuckDB as a parse error.
Braces that are not a placeholder (DuckDB struct literals `{a: 1}`) need no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class SqlFiles:
    """The `.sql` files of one directory (subdirectories as `checks/name`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.sql"

    def text(self, name: str) -> str:
        return _read(self.path(name))

    def render(self, name: str, **tokens: str) -> str:
        """The file's statement(s) with each `{token}` replaced by its value."""
        return fill(self.text(name), tokens, where=str(self.path(name)))


def fill(text: str, tokens: Mapping[str, str], *, where: str = "SQL") -> str:
    """`text` with each `{token}` replaced by its value (for the few one-line statements kept in
    Python, and for the files)."""

    def value(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in tokens:
            raise KeyError(f"{where} needs a value for {{{token}}}")
        return tokens[token]

    return _PLACEHOLDER.sub(value, text)


@cache
def _read(path: Path) -> str:
    return path.read_text()
