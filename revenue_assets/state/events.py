"""What the inbox records about an event, extracted once when the event arrives.

The sensors group events by (table, partition) without parsing payloads, so the receiver does
that work here, at insert time: which synced table the event's object belongs to (by the
object's own `object` field, which is stable across API versions: a `customer.subscription.*`
event carries a `subscription`, a `charge.dispute.*` event a `dispute`) and the monthly
partition of the object's creation time (its table's timestamp field), the key the assets are
partitioned by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from revenue_assets.catalog.months import key_of_timestamp
from revenue_assets.catalog.tables import table_for_object

MAX_ID_LENGTH = 255


class InvalidEvent(ValueError):
    """The payload is not a Stripe event (malformed JSON, or fields an event must have)."""


@dataclass(frozen=True)
class EventRow:
    """The columns of an inbox row that come from the event itself."""

    event_id: str
    type: str
    created: int
    api_version: str | None
    livemode: bool
    account: str | None
    object_id: str | None
    object_type: str | None
    table: str | None  # synced table (`stripe.<table>`), None when the object is not synced
    partition_key: (
        str | None
    )  # "YYYY-MM-01" of the object's creation time, UTC; None: unpartitioned


def parse_event(payload: bytes) -> tuple[dict[str, Any], EventRow]:
    """Parse a raw payload into (event, row); raise InvalidEvent when it is not an event."""
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"malformed JSON: {error}") from None
    return event, summarize(event)


def summarize(event: Mapping[str, Any]) -> EventRow:
    """The inbox columns of a (snapshot) event, from the webhook or from `/v1/events`."""
    if not isinstance(event, Mapping):
        raise InvalidEvent("the payload is not a JSON object")
    if event.get("object", "event") != "event":
        raise InvalidEvent(f"not a snapshot event (object={event.get('object')!r})")
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
        raise InvalidEvent("the event has no valid `id`")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEvent("the event has no `type`")
    if not _is_int(created):
        raise InvalidEvent("the event has no integer `created`")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise InvalidEvent("the event has no `data.object`")
    object_type = _str_or_none(obj.get("object"))
    table = table_for_object(object_type) if object_type else None
    account = event.get("account")
    api_version = event.get("api_version")
    return EventRow(
        event_id=event_id,
        type=event_type,
        created=created,
        api_version=_str_or_none(api_version),
        livemode=bool(event.get("livemode", False)),
        account=_str_or_none(account),
        object_id=_str_or_none(obj.get("id")),
        object_type=object_type,
        table=table.name if table else None,
        # A full-refresh or events-only table has no monthly partitions: its events wait
        # under None.
        partition_key=(
            key_of_timestamp(table.created_of(obj)) if table and not table.unpartitioned else None
        ),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
