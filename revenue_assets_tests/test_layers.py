"""The packages depend on each other one way only, from the glue down to what Stripe is.

Read bottom-up: `catalog` knows Stripe's tables, months, pages and keys and imports nothing of
ours; `stripe_api`, `warehouse` and `state` each stand on it alone; `ingest` joins them into a
sync; `revenue` and `dashboard` read the warehouse; `defs` declares all of it to Dagster; the
CLI and the demo drive everything. The sandbox is a Stripe of its own and imports nothing.
A new import that breaks this order fails here, naming the module and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import revenue_assets

PACKAGE = Path(revenue_assets.__file__).parent

# What each part may import besides itself. Top-level modules count as parts of their own.
ALLOWED: dict[str, set[str]] = {
    "catalog": set(),
    "sandbox": set(),
    "stripe_api": {"catalog"},
    "warehouse": {"catalog"},
    "state": {"catalog"},
    "settings": {"catalog", "stripe_api"},
    "webhooks": {"catalog", "settings", "state", "stripe_api"},
    "ingest": {"catalog", "state", "stripe_api", "warehouse"},
    "revenue": {"catalog", "warehouse"},
    "dashboard": {"catalog", "revenue", "state", "warehouse"},
    "run_health": set(),
    "instance": {"run_health"},  # the run launcher marks runs whose process died failed
    "demo": {"catalog", "dashboard", "settings", "state", "webhooks"},
}
LIBRARIES = set(ALLOWED)
GLUE = {
    "defs": LIBRARIES - {"sandbox", "demo"},
    "definitions": {"defs"},
}
DRIVERS = {"cli", "__init__"}


def _part(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported_parts(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "revenue_assets":
                names = [f"revenue_assets.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.startswith("revenue_assets."):
                found.append((node.lineno, name.split(".")[1]))
    return found


def test_every_part_has_a_place_in_the_order():
    parts = {_part(path) for path in PACKAGE.rglob("*.py")}
    assert parts <= LIBRARIES | set(GLUE) | DRIVERS, parts - LIBRARIES - set(GLUE) - DRIVERS


def test_imports_point_down_only():
    rules = {**ALLOWED, **GLUE}
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        if part in DRIVERS:
            continue
        for line, imported in _imported_parts(path):
            if imported != part and imported not in rules[part]:
                wrong.append(
                    f"{path.relative_to(PACKAGE)}:{line} imports revenue_assets.{imported}"
                )
    assert not wrong, "\n".join(wrong)


def test_the_rule_can_fail(tmp_path):
    """The checker sees a forbidden import (the warehouse reaching for the Stripe client)."""
    module = tmp_path / "merge.py"
    module.write_text("from revenue_assets.stripe_api.client import StripeAccess\n")
    assert _imported_parts(module) == [(1, "stripe_api")]
    assert "stripe_api" not in ALLOWED["warehouse"]
