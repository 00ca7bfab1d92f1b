"""Stripe-like object ids, deterministic by seed.

Ids come from a seeded random stream, not from a global counter, so that the generator can build
customers independently (in any process, in any batch size) and still produce the same ids for
the same seed. Stripe's ids are opaque base62 strings after a type prefix; consumers only rely on
the prefix, so a random tail of Stripe's usual length is faithful enough.
"""

from __future__ import annotations

import random

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# Stripe's short ids (customers, products, subscription items) have a 14 character tail; the rest
# start with "1" followed by 23 characters.
_SHORT = frozenset({"cus", "prod", "si", "acct", "we"})


class Ids:
    """A deterministic id source for one stream (a customer, a catalog, the live world)."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    @classmethod
    def for_stream(cls, seed: int, stream: int | str) -> Ids:
        return cls(random.Random(f"{seed}/{stream}"))

    def new(self, prefix: str) -> str:
        """A fresh id such as `in_1Pgc6tB7WZ01zgkWu9fdqL6I` (collisions are ~2^-130 unlikely)."""
        if prefix in _SHORT:
            return f"{prefix}_{''.join(self._rng.choices(ALPHABET, k=14))}"
        return f"{prefix}_1{''.join(self._rng.choices(ALPHABET, k=23))}"

    def token(self, length: int) -> str:
        """A random base62 string (webhook secrets, invoice prefixes, fingerprints)."""
        return "".join(self._rng.choices(ALPHABET, k=length))
