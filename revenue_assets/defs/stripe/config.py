"""The Stripe op's run config, typed: the sensors build it, the op reads it, and a wrong field
fails when the request is made rather than when a run starts."""

from typing import Literal

import dagster as dg
from pydantic import Field

STRIPE_OP = "stripe_tables"


class StripeSyncConfig(dg.Config):
    """How a run syncs its partitions."""

    mode: Literal["full", "new", "events"] = Field(
        default="full",
        description=(
            "full: re-list the partitions (rows Stripe no longer returns are marked deleted); "
            "new: fetch only objects created after `since` (the cursor sensor's runs); "
            "events: only apply the partitions' pending inbox events (the webhook sensor's runs). "
            "Every mode applies the pending events of the partitions it covers."
        ),
    )
    since: int | None = Field(
        default=None, description="Unix time; with mode=new, objects created after it."
    )
    after_seq: int = Field(
        default=0, description="With mode=events, the event table keeps inbox events after it."
    )
    through_seq: int | None = Field(
        default=None, description="With mode=events, … and up to this inbox seq."
    )


def sync_run_config(config: StripeSyncConfig) -> dg.RunConfig:
    """A run's config that syncs with `config`."""
    return dg.RunConfig(ops={STRIPE_OP: config})
