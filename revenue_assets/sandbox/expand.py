"""Stripe's `expand[]`: replace ids along dotted paths by the objects they name.

`customer`, `latest_invoice`, `data.discounts`, `lines.data.discounts`,
`items.data.price.product`... Lists (`data`) apply the rest of the path to every element.
Includable fields that are absent by default (`invoice.payments`) are built on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from revenue_assets.sandbox.customer_children import tax_ids_of
from revenue_assets.sandbox.errors import SandboxError, invalid
from revenue_assets.sandbox.expandable import EXPANDABLE, LEGACY_EXPANDABLE

Obj = dict[str, Any]

MAX_DEPTH = 4  # Stripe refuses deeper expansions


def check(kind: str, paths: list[str], legacy: bool = False) -> None:
    """Stripe's 400 for an expansion it would refuse: a path that is not expandable or does not
    exist on `kind`, or more than four levels deep (the `data` of a list is not a level)."""
    for path in paths:
        segments = [segment for segment in path.split(".") if segment]
        if not segments:
            raise invalid("Invalid expand: an empty path.", param="expand")
        levels = sum(1 for segment in segments if segment != "data")
        if levels > MAX_DEPTH:
            raise invalid(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _check_path(kind, segments, path, legacy)


def _check_path(kind: str, segments: list[str], path: str, legacy: bool) -> None:
    index = 0
    while index < len(segments):
        table = EXPANDABLE.get(kind)
        if table is None:
            return  # several possible kinds (`*`) or one the sandbox never serves
        if legacy:
            table = {**table, **LEGACY_EXPANDABLE.get(kind, {})}
        for end in range(len(segments), index, -1):
            target = table.get(".".join(segments[index:end]))
            if target is not None:
                break
        else:
            raise _cannot_expand(path)
        index = end
        how, _, kind = target.rpartition(":")
        last = index == len(segments)
        if how == "unbuilt":
            raise SandboxError(
                400,
                f"The sandbox does not build `{'.'.join(segments[:index])}`, which Stripe "
                f"includes when expanded ({path}).",
                param="expand",
            )
        if how == "obj" and last:
            raise _cannot_expand(path)  # an embedded object is already expanded
        if how == "list":
            if last or segments[index] != "data":
                raise _cannot_expand(path)
            index += 1
        elif how == "include" and not last:
            if segments[index] != "data":
                raise _cannot_expand(path)
            index += 1


def _cannot_expand(path: str) -> SandboxError:
    return invalid(f"This property cannot be expanded ({path}).", param="expand")


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
    if node.get("object") == "customer" and key == "tax_ids":
        return tax_ids_of(children(node["id"], "tax_id"), node["id"])
    return None
