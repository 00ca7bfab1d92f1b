"""The sandbox emulates Stripe for the product's tests, so it must not borrow the product's code:
a rule shared by both (a permission name, a field list) could be wrong in both and never fail.
This test reads every sandbox module's imports from its syntax tree, without importing it."""

from __future__ import annotations

import ast
from pathlib import Path

import revenue_assets.sandbox

SANDBOX = Path(revenue_assets.sandbox.__file__).parent


def product_imports(source: str) -> list[str]:
    """Names of `revenue_assets` modules outside the sandbox that `source` imports (at any
    depth: inside functions and `TYPE_CHECKING` blocks too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "revenue_assets":
                names = [f"revenue_assets.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            inside = name == "revenue_assets.sandbox" or name.startswith("revenue_assets.sandbox.")
            if (name == "revenue_assets" or name.startswith("revenue_assets.")) and not inside:
                found.append(name)
    return found


def test_detector_sees_product_imports() -> None:
    source = (
        "import revenue_assets.sync\n"
        "from revenue_assets.stripe_api.tables import TABLES\n"
        "from revenue_assets import warehouse\n"
        "from revenue_assets.sandbox import shapes\n"
        "def f():\n    from revenue_assets.sockets import bind\n"
    )
    assert product_imports(source) == [
        "revenue_assets.sync",
        "revenue_assets.stripe_api.tables",
        "revenue_assets.warehouse",
        "revenue_assets.sockets",
    ]


def test_sandbox_imports_nothing_of_the_product() -> None:
    modules = sorted(SANDBOX.rglob("*.py"))
    assert len(modules) > 10
    offenders = {
        str(path.relative_to(SANDBOX)): imports
        for path in modules
        if (imports := product_imports(path.read_text()))
    }
    assert offenders == {}


def private_world_accesses(source: str) -> list[str]:
    """`world._name` attribute accesses in `source`: handlers must use the world's public face."""
    return [
        f"world.{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and isinstance(node.value, ast.Name)
        and node.value.id == "world"
    ]


def test_detector_sees_private_world_accesses() -> None:
    source = "def f(world):\n    world._cache = None\n    world.render(self._x)\n"
    assert private_world_accesses(source) == ["world._cache"]


def test_only_the_world_touches_its_private_parts() -> None:
    offenders = {
        str(path.relative_to(SANDBOX)): found
        for path in sorted(SANDBOX.rglob("*.py"))
        if path.name != "world.py" and (found := private_world_accesses(path.read_text()))
    }
    assert offenders == {}
