"""The code location loads: what `dagster dev -w workspace.yaml` would do first."""

import dagster as dg

from revenue_assets.definitions import defs


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
