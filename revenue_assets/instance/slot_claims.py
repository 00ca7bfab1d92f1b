"""Claiming a pool's slot on SQLite as one compare-and-set, so a pool of one slot runs one step.

Dagster's SQL event log claims a slot in two statements: it selects a free slot `FOR UPDATE`
and then writes the run and step into that slot by id. SQLite has no row locks and ignores
`FOR UPDATE`, so two processes (a webhook-triggered rebuild and a sync, say) that look at the
same moment both see the free slot, both write it and both are told they hold it: with the
warehouse pool's one slot, two steps that each hold the DuckDB file for seconds ran at the same
time, and the second waited inside DuckDB's lock instead of visibly in the pool. (Six claims at
once on a one-slot pool gave the slot to more than one step in 29 rounds of 30.)

Here the write only takes a slot that is still free, and a claim that finds it gone, or finds
the file busy with another claim, is answered "blocked": Dagster's step then waits and asks
again, as it does for any slot in use.
"""

from __future__ import annotations

import sqlalchemy as db
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._utils.concurrency import ConcurrencySlotStatus

SLOTS = ConcurrencySlotsTable.c


class ExclusiveSlotClaims:
    """Mixin for a SQL event log storage (it needs `index_connection`): a slot is claimed only
    if no step holds it."""

    def _claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str
    ) -> ConcurrencySlotStatus:
        free_slot = (
            db.select(SLOTS.id)
            .where(
                SLOTS.concurrency_key == concurrency_key,
                SLOTS.step_key.is_(None),
                SLOTS.deleted.is_(False),
            )
            .limit(1)
            .scalar_subquery()
        )
        claim = (
            ConcurrencySlotsTable.update()
            .values(run_id=run_id, step_key=step_key)
            # the same condition again: the slot is free at the instant it is written
            .where(SLOTS.id == free_slot, SLOTS.step_key.is_(None))
        )
        try:
            with self.index_connection() as connection:  # type: ignore[attr-defined]
                claimed = connection.execute(claim).rowcount == 1
        except db.exc.OperationalError:  # the file busy with another claim: ask again later
            return ConcurrencySlotStatus.BLOCKED
        return ConcurrencySlotStatus.CLAIMED if claimed else ConcurrencySlotStatus.BLOCKED
