"""Reading a list page without building it in Python.

Listing needs only a little of each page: whether more follow, each object's id and creation
time (the cursor and the window split), and which parents' embedded child lists say
`has_more`. msgspec decodes exactly those fields and skips the rest without allocating it,
10-17x less CPU than a full parse on charge and event pages; the page itself goes to the spool
as the bytes Stripe sent, and DuckDB unnests it during the merge. The full-parse path stays for
single objects (event payloads, retrieves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgspec


class _ChildEntry(msgspec.Struct):
    id: str


class _ChildList(msgspec.Struct):
    data: list[_ChildEntry] = []
    has_more: bool = False


class _Entry(msgspec.Struct):
    id: str
    created: int | None = None
    date: int | None = None  # invoice items; invoices of API versions before 2019-03-14
    lines: _ChildList | None = None  # invoices, credit notes
    items: _ChildList | None = None  # subscriptions
    # What says whether a parent has children listed per parent (`ChildTable.listed_for`);
    # typed loosely, as other tables may hold other things under these names.
    balance: Any = None  # customers: balance transactions
    invoice_settings: Any = None  # customers: payment methods
    default_source: Any = None
    latest_attempt: Any = None  # setup intents: setup attempts
    customer: Any = None  # credit grants: their credit balance transactions are per customer

    def parent_fields(self) -> dict[str, Any]:
        """The fields of `PARENT_FIELDS`, by dotted path."""
        settings = self.invoice_settings if isinstance(self.invoice_settings, dict) else {}
        return {
            "balance": self.balance,
            "invoice_settings.default_payment_method": settings.get("default_payment_method"),
            "default_source": self.default_source,
            "latest_attempt": self.latest_attempt,
            "customer": self.customer.get("id")
            if isinstance(self.customer, dict)
            else self.customer,
        }


EMBEDDED_FIELDS = ("lines", "items")
# The parent fields a page is read for (`ChildTable.listed_for` may name only these).
PARENT_FIELDS = tuple(_Entry(id="").parent_fields())


class _Page(msgspec.Struct):
    object: str
    data: list[_Entry]
    has_more: bool = False


_DECODER = msgspec.json.Decoder(_Page)


class MalformedPage(ValueError):
    """The body is not a Stripe list page (truncated, not JSON, or another shape)."""


@dataclass(frozen=True)
class PageMeta:
    """What listing needs to know about a page."""

    ids: list[str]
    created: list[int | None]
    has_more: bool
    children: dict[str, list[list[str]]]  # child field -> embedded child ids, per parent
    children_more: dict[str, list[int]]  # child field -> positions of parents with has_more
    _entries: list[_Entry] = field(repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def parent_fields(self) -> list[dict[str, Any]]:
        """Per object: the fields of `PARENT_FIELDS` (by dotted path) that say whether it may
        have children listed per parent, and what their endpoint is asked with. Built only
        when asked: most tables have no such children, and this would double the page's CPU."""
        return [entry.parent_fields() for entry in self._entries]


def read_page(body: bytes | memoryview) -> PageMeta:
    """The listing facts of a page; raises MalformedPage when it is not a complete list page."""
    try:
        page = _DECODER.decode(body)
    except msgspec.DecodeError as error:
        raise MalformedPage(str(error)) from None
    if page.object != "list":
        raise MalformedPage(f"expected a list, got {page.object!r}")
    children: dict[str, list[list[str]]] = {}
    children_more: dict[str, list[int]] = {}
    for position, entry in enumerate(page.data):
        for name in EMBEDDED_FIELDS:
            embedded = getattr(entry, name)
            if embedded is None:
                continue
            children.setdefault(name, [[] for _ in page.data])[position] = [
                child.id for child in embedded.data
            ]
            if embedded.has_more:
                children_more.setdefault(name, []).append(position)
    return PageMeta(
        ids=[entry.id for entry in page.data],
        created=[entry.created if entry.created is not None else entry.date for entry in page.data],
        has_more=page.has_more,
        children=children,
        children_more=children_more,
        _entries=page.data,
    )
