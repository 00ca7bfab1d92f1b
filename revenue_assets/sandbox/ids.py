"""Stripe-like object ids, deterministic by seed.

Ids come from a seeded random stream, not from a global counter, so that the generator can build
customers independently (in any process, in any batch size) and still produce the same ids for
the same seed. Stripe's ids are opaque base62 strings after a type prefix; consumers only rely on
the prefix, so a random tail of Stripe's usual length is faithful enough.
"""

from __future__ import annotations

import base64
import random

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
            return f"{prefix}_{self.token(14)}"
        return f"{prefix}_1{self.token(23)}"

    def token(self, length: int) -> str:
        """A random alphanumeric string (ids, webhook secrets, invoice prefixes).

        Base64 of seeded random bytes with `+/` swapped for letters: a C-speed encoding (the
        generator makes millions of ids), slightly biased towards two letters, which is harmless.
        """
        raw = self._rng.randbytes((length * 3 + 3) // 4)
        return base64.b64encode(raw, b"xZ")[:length].decode()
