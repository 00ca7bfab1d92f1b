"""The API versions the sandbox answers in, as a `Stripe-Version` header names them.

Stripe accepts only versions it released (a made-up or future date is a 400
`invalid_request_error`), and renders the body in the version asked for. The sandbox knows the
releases below and the one the pinned SDK sends; it stores objects in the current shape and
derives the older layout (before 2025-03-31: invoice `subscription`, line `price`, subscription
`current_period_*`...) on demand. Events are the exception: each keeps the version it was
created in, whatever the request asks.
"""

from __future__ import annotations

from functools import cache

import stripe

from revenue_assets.sandbox.errors import SandboxError

# Stripe's releases, oldest first: date-only until mid 2024, then named by their major release.
RELEASES: tuple[str, ...] = (
    "2011-01-01",
    "2013-02-13",
    "2014-03-28",
    "2015-10-16",
    "2016-07-06",
    "2017-08-15",
    "2018-02-28",
    "2018-11-08",
    "2019-02-19",
    "2019-12-03",
    "2020-03-02",
    "2020-08-27",
    "2022-08-01",
    "2022-11-15",
    "2023-08-16",
    "2023-10-16",
    "2024-04-10",
    "2024-06-20",
    "2024-09-30.acacia",
    "2024-10-28.acacia",
    "2024-11-20.acacia",
    "2024-12-18.acacia",
    "2025-01-27.acacia",
    "2025-02-24.acacia",
    "2025-03-31.basil",
    "2025-04-30.basil",
    "2025-05-28.basil",
    "2025-06-30.basil",
    "2025-07-30.basil",
    "2025-08-27.basil",
    "2025-09-30.clover",
    "2025-10-29.clover",
    "2025-11-17.clover",
    "2025-12-15.clover",
)


# The first version with today's layout (invoice `parent`, line `pricing`, item periods).
BASIL = "2025-03-31"


def is_legacy(api_version: str | None) -> bool:
    """Whether a version renders the layout from before 2025-03-31."""
    return bool(api_version) and api_version[:10] < BASIL


def pinned() -> str:
    """The version the pinned SDK sends, and the sandbox's default and newest."""
    return str(stripe.api_version)


@cache
def accepted() -> frozenset[str]:
    return frozenset((*RELEASES, pinned()))


def requested(header: str | None) -> str:
    """The version a request's `Stripe-Version` header asks for (the pinned one when absent);
    Stripe's 400 for a version it never released."""
    if header is None:
        return pinned()
    version = header.strip()
    if version in accepted():
        return version
    raise SandboxError(
        400,
        f"Invalid Stripe API version: {version}. Use a version Stripe released "
        f"(the newest this sandbox serves is {pinned()}).",
        param="stripe_version",
    )
