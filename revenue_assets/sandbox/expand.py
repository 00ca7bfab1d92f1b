"""Stripe's `expand[]`: replace ids along dotted paths by the objects they name.

`customer`, `latest_invoice`, `data.discounts`, `lines.data.discounts`,
`items.data.price.product`... Lists (`data`) apply the rest of the path to every element.
Includable fields that are absent by default (`invoice.payments`) are built on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

MAX_DEPTH = 4  # Stripe refuses deeper expansions


def expand(
    obj: Obj,
    paths: list[str],
    get: Callable[[str], Obj | None],
    children: Callable[[str, str], list[Obj]],
) -> Obj:
    for path in paths:
        parts = [part for part in path.split(".") if part]
        if parts:
            _walk(obj, parts, get, children)
    return obj


def _walk(
    node: Any,
    parts: list[str],
    get: Callable[[str], Obj | None],
    children: Callable[[str, str], list[Obj]],
) -> None:
    if isinstance(node, list):
        for element in node:
            _walk(element, parts, get, children)
        return
    if not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if key not in node:
        included = _includable(node, key, children)
        if included is None:
            return
        node[key] = included
    value = node[key]
    if isinstance(value, str):
        value = node[key] = get(value) or value
    elif isinstance(value, list) and any(isinstance(item, str) for item in value):
        value = node[key] = [get(item) or item if isinstance(item, str) else item for item in value]
    if rest:
        _walk(value, rest, get, children)


def _includable(node: Obj, key: str, children: Callable[[str, str], list[Obj]]) -> Any:
    if node.get("object") == "invoice" and key == "payments":
        payments = children(node["id"], "invoice_payment")
        return {
            "object": "list",
            "data": payments[:10],
            "has_more": len(payments) > 10,
            "url": f"/v1/invoices/{node['id']}/payments",
        }
    return None
