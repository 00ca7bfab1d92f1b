"""Rendering objects in API versions older than 2025-03-31 ("basil").

Real events keep the API version they were created with, and webhook endpoints may pin an old
version, so consumers meet the old field locations: `invoice.subscription`, `invoice.paid`,
`invoice.charge`, line `price` / `subscription` / `proration` / `type`, `subscription.plan`,
`subscription.current_period_*`, `charge.invoice`. The sandbox stores objects in the pinned
(current) shape and derives the legacy shape on demand, looking up what moved to other objects
(invoice payments, prices) through a `Lookup`.
"""

from __future__ import annotations

from typing import Any, Protocol

from revenue_assets.sandbox import shapes
from revenue_assets.sandbox.versions import is_legacy

Obj = dict[str, Any]


class Lookup(Protocol):
    def get(self, object_id: str) -> Obj | None: ...
    def children(self, parent: str, kind: str) -> list[Obj]: ...
    def parent_of(self, object_id: str) -> str | None: ...
    def tombstone(self, object_id: str) -> Obj | None: ...


def render(obj: Obj, api_version: str, lookup: Lookup) -> Obj:
    """`obj` as an API of `api_version` would render it (a copy; `obj` is left untouched)."""
    if not is_legacy(api_version):
        return obj
    renderer = _RENDERERS.get(obj.get("object", ""))
    if renderer is None or obj.get("deleted"):
        return obj
    return renderer(shapes.clone(obj), lookup)


def _invoice(out: Obj, lookup: Lookup) -> Obj:
    parent = out.pop("parent", None) or {}
    details = parent.get("subscription_details") or {}
    out["subscription"] = details.get("subscription")
    out["subscription_details"] = (
        {"metadata": details.get("metadata")} if details else {"metadata": None}
    )
    out["paid"] = out.get("status") == "paid"
    out["paid_out_of_band"] = False
    charges = lookup.children(out["id"], "charge")
    out["charge"] = charges[-1]["id"] if charges else None
    intents = lookup.children(out["id"], "payment_intent")
    out["payment_intent"] = intents[-1]["id"] if intents else None
    taxes = out.pop("total_taxes", None) or []
    out.pop("total_pretax_credit_amounts", None)
    out["tax"] = sum(tax["amount"] for tax in taxes) if taxes else None
    out["total_tax_amounts"] = [_tax_amount(tax) for tax in taxes]
    discount_ids = out.get("discounts") or []
    out["discount"] = lookup.get(discount_ids[0]) if discount_ids else None
    lines = out.get("lines")
    if isinstance(lines, dict) and isinstance(lines.get("data"), list):
        lines["data"] = [_line(line, lookup) for line in lines["data"]]
    return out


def _tax_amount(tax: Obj) -> Obj:
    return {
        "amount": tax["amount"],
        "inclusive": tax.get("tax_behavior") == "inclusive",
        "tax_rate": (tax.get("tax_rate_details") or {}).get("tax_rate"),
        "taxability_reason": tax.get("taxability_reason"),
        "taxable_amount": tax.get("taxable_amount"),
    }


def _price(price_id: str | None, lookup: Lookup) -> Obj | None:
    if not price_id:
        return None
    price = lookup.get(price_id)
    if price is not None and price.get("deleted"):
        price = lookup.tombstone(price_id) or price
    return price


def _line(out: Obj, lookup: Lookup) -> Obj:
    parent = out.pop("parent", None) or {}
    pricing = out.pop("pricing", None) or {}
    taxes = out.pop("taxes", None) or []
    out.pop("pretax_credit_amounts", None)
    item_details = parent.get("subscription_item_details")
    invoice_item_details = parent.get("invoice_item_details")
    details = item_details or invoice_item_details or {}
    from_subscription_item = item_details is not None and not item_details.get("invoice_item")
    out["type"] = "subscription" if from_subscription_item else "invoiceitem"
    out["subscription"] = details.get("subscription")
    out["subscription_item"] = item_details.get("subscription_item") if item_details else None
    out["invoice_item"] = details.get("invoice_item")
    out["proration"] = bool(details.get("proration"))
    out["proration_details"] = details.get("proration_details") or {"credited_items": None}
    price_details = pricing.get("price_details") or {}
    price = _price(price_details.get("price"), lookup)
    out["price"] = price
    out["plan"] = shapes.plan_of(price) if price and not price.get("deleted") else None
    out["unit_amount_excluding_tax"] = pricing.get("unit_amount_decimal")
    out["amount_excluding_tax"] = out["amount"]
    out["tax_amounts"] = [_tax_amount(tax) for tax in taxes]
    out["tax_rates"] = []
    return out


def _subscription(out: Obj, lookup: Lookup) -> Obj:
    items = (out.get("items") or {}).get("data") or []
    first = items[0] if items else None
    out["current_period_start"] = first["current_period_start"] if first else out["start_date"]
    out["current_period_end"] = first["current_period_end"] if first else out["start_date"]
    single = len(items) == 1 and not (out.get("items") or {}).get("has_more")
    out["plan"] = first.get("plan") if single and first else None
    out["quantity"] = first.get("quantity") if single and first else None
    discount_ids = out.get("discounts") or []
    out["discount"] = lookup.get(discount_ids[0]) if discount_ids else None
    return out


def _subscription_item(out: Obj, lookup: Lookup) -> Obj:
    return out


def _charge(out: Obj, lookup: Lookup) -> Obj:
    parent = lookup.parent_of(out["id"])
    out["invoice"] = parent if parent and parent.startswith("in_") else None
    return out


def _invoiceitem(out: Obj, lookup: Lookup) -> Obj:
    parent = out.pop("parent", None) or {}
    pricing = out.pop("pricing", None) or {}
    details = parent.get("subscription_details") or {}
    out["subscription"] = details.get("subscription")
    out["subscription_item"] = details.get("subscription_item")
    price = _price((pricing.get("price_details") or {}).get("price"), lookup)
    out["price"] = price
    out["plan"] = shapes.plan_of(price) if price and not price.get("deleted") else None
    out["unit_amount"] = (
        int(pricing["unit_amount_decimal"]) if pricing.get("unit_amount_decimal") else None
    )
    out["unit_amount_decimal"] = pricing.get("unit_amount_decimal")
    return out


_RENDERERS = {
    "invoice": _invoice,
    "line_item": _line,
    "subscription": _subscription,
    "subscription_item": _subscription_item,
    "charge": _charge,
    "invoiceitem": _invoiceitem,
}
