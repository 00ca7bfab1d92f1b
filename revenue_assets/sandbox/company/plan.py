"""What a generation is made of: the fixed plan every customer's story reads, what a chunk of
simulated customers yields, and what the world keeps once the company exists."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from revenue_assets.sandbox.catalog import Catalog
from revenue_assets.sandbox.store import Row

Obj = dict[str, Any]
# (distinct_id, email, name, group_key, account): who is behind each generated customer
Person = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Plan:
    """What the generator needs to know, fixed before any customer is simulated."""

    seed: int
    start: int
    now: int
    platform: str
    api_version: str
    catalogs: dict[str, Catalog]  # by account: connected accounts sell their own products


@dataclass
class ChunkResult:
    rows: list[Row]
    due: list[tuple[str, str, int]]
    balance: dict[tuple[str, str, int], int]
    redemptions: Counter[str]
    count: int = 0
    persons: list[Person] = field(default_factory=list)


@dataclass
class Generated:
    """What the world keeps from generation (also stored in the store's meta table)."""

    platform: str
    connected: list[str]
    start: int
    now: int
    balance: dict[tuple[str, str, int], int] = field(default_factory=dict)
    tombstones: dict[str, Obj] = field(default_factory=dict)
    objects: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (benchmarks)
