"""The `revenue-assets` command line. Each command group lives in its own module and is imported
lazily, so `revenue-assets --help` does not pay for importing Dagster."""

from __future__ import annotations

import importlib
import warnings

import click

# command name -> ("module:attribute" of a click command or group, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "dashboard": (
        "revenue_assets.cli.dashboard:dashboard",
        "Rebuild the revenue dashboard page from the warehouse.",
    ),
    "demo": (
        "revenue_assets.cli.demo:demo",
        "Everything offline on a generated company: sandbox, sync, revenue, dashboard.",
    ),
    "sandbox": ("revenue_assets.cli.sandbox:sandbox", "Run the local Stripe sandbox."),
    "sql": ("revenue_assets.cli.sql:sql", "Run one SQL query on the warehouse (under its lock)."),
    "sync": ("revenue_assets.cli.sync:sync", "Sync every Stripe table, then rebuild downstream."),
    "webhooks": (
        "revenue_assets.cli.webhooks:webhooks",
        "Receive Stripe webhooks; register and check the endpoint.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """revenue_assets: your Stripe account as a Dagster asset graph on DuckDB.

    \b
    Exit codes: 0 done; 1 a run or a check failed (one line per cause on stderr; the
    traceback with `sync --verbose`, or in the run's logs in the UI); 2 the settings or the
    command line are wrong."""
    # Dagster flags the beta APIs we rely on at import; a user of the command cannot act on it.
    warnings.filterwarnings("ignore", message=r".*is currently in beta")
