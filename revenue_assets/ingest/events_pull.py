"""Stripe's Events API read forward into the state store's inbox.

The pull fills webhook gaps and keeps tables current when no webhook is set up: it walks
`/v1/events` from the last event seen toward newer ones, and the inbox drops the events it
already holds, so a repeated pull is harmless.
"""

from __future__ import annotations

import time

from revenue_assets.state.store import StateStore
from revenue_assets.stripe_api.client import StripeAccess
from revenue_assets.stripe_api.errors import StripeRequestError

MAX_PAGES_PER_PULL = 20


def pull_forward(access: StripeAccess, inbox: StateStore, cursor: dict) -> tuple[int, dict]:
    """Events newer than the cursor, oldest page first (`ending_before` walks toward newer).
    Once the cursor's event is gone (Stripe keeps 30 days: a quiet account), the events created
    since it are listed by `created` instead, so the pull never stalls on a vanished id."""
    pulled = 0
    if not cursor.get("id"):
        return _pull_since(access, inbox, cursor)
    for _ in range(MAX_PAGES_PER_PULL):
        try:
            page = access.get(
                "/v1/events", {"limit": 100, "ending_before": cursor["id"]}, expect_list=True
            )
        except StripeRequestError:
            if pulled:
                raise
            return _pull_since(access, inbox, cursor)
        events = page["data"]
        if not events:
            break
        inbox.add_many(events, "events_api")
        pulled += len(events)
        cursor = {"id": events[0]["id"], "created": events[0]["created"]}
        if not page.get("has_more"):
            break
    return pulled, {**cursor, "pulled_at": time.time()}


def _pull_since(access: StripeAccess, inbox: StateStore, cursor: dict) -> tuple[int, dict]:
    """Every event created since the cursor's second (newest first; the inbox drops those it
    already has). Without any, the cursor keeps its time and loses its id."""
    pulled, newest, after = 0, None, None
    while True:
        params: dict = {"limit": 100, "created": {"gte": cursor["created"]}}
        if after:
            params["starting_after"] = after
        page = access.get("/v1/events", params, expect_list=True)
        events = page["data"]
        if not events:
            break
        newest = newest or events[0]
        inbox.add_many(events, "events_api")
        pulled += len(events)
        if not page.get("has_more"):
            break
        after = events[-1]["id"]
    if newest is None:
        return 0, {"created": cursor["created"], "pulled_at": time.time()}
    return pulled, {"id": newest["id"], "created": newest["created"], "pulled_at": time.time()}
