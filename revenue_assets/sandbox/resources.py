"""The sandbox's write API: Stripe's POST/DELETE routes mapped onto the billing engine.

Each handler validates and coerces the form parameters the way Stripe does (required params,
unknown ids answer 404 `resource_missing`, bad values 400), then calls the engine through the
ledger of the request's account. Handlers are looked up by (resource, verb[, action]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from revenue_assets.sandbox import (
    billing,
    checkout,
    connect,
    credit_notes,
    credits,
    customer_children,
    customers,
    invoicing,
    payments,
    quotes,
    radar,
    schedules,
    shapes,
)
from revenue_assets.sandbox import (
    params as p,
)
from revenue_assets.sandbox.errors import SandboxError, invalid, missing
from revenue_assets.sandbox.ledger import StoreLedger

if TYPE_CHECKING:
    from revenue_assets.sandbox.world import World

Obj = dict[str, Any]
Handler = Callable[["World", StoreLedger, Obj], Obj]


def fetch(ledger: StoreLedger, kind: str, object_id: Any, param: str = "id") -> Obj:
    """An existing, not deleted object of a kind, or Stripe's 404."""
    if not isinstance(object_id, str) or not object_id:
        raise missing(kind, str(object_id), param)
    obj = ledger.get(object_id)
    if obj is None or obj.get("object") != kind or obj.get("deleted"):
        raise missing(kind, object_id, param)
    return obj


def _coupons(ledger: StoreLedger, params: Obj) -> tuple[Obj, ...] | None:
    """Coupons from `coupon=` or `discounts[][coupon]=` (None when neither is given)."""
    found: list[Obj] = []
    given = False
    if params.get("coupon") is not None:
        given = True
        if params["coupon"] != "":
            found.append(fetch(ledger, "coupon", params["coupon"], "coupon"))
    discounts = p.listing(params, "discounts")
    if discounts is not None:
        given = True
        for entry in discounts:
            if isinstance(entry, dict) and entry.get("coupon"):
                found.append(fetch(ledger, "coupon", entry["coupon"], "discounts"))
    return tuple(found) if given else None


def _promotion_codes(ledger: StoreLedger, params: Obj) -> tuple[Obj, ...]:
    """Active promotion codes from `discounts[][promotion_code]=`."""
    found: list[Obj] = []
    for entry in p.listing(params, "discounts") or ():
        if isinstance(entry, dict) and entry.get("promotion_code"):
            code = fetch(ledger, "promotion_code", entry["promotion_code"], "discounts")
            if not code["active"]:
                raise invalid(f"This promotion code is inactive: {code['code']}", "discounts")
            found.append(code)
    return tuple(found)


def _tax_rates(ledger: StoreLedger, params: Obj, name: str) -> list[Obj] | None:
    ids = p.listing(params, name)
    if ids is None:
        return None
    return [fetch(ledger, "tax_rate", rate, name) for rate in ids if rate]


def _meta(current: Obj, params: Obj) -> Obj | None:
    changes = p.metadata(params)
    return None if changes is None else p.merge_metadata(current, changes)


def _change(obj: Obj, previous: Obj, key: str, value: Any) -> None:
    """Set a field; when that changes it, keep the old value for the event's
    `previous_attributes`."""
    if obj.get(key) != value:
        previous[key] = obj.get(key)
        obj[key] = value


def _set_fields(
    obj: Obj, params: Obj, *, texts: tuple[str, ...] = (), flags: tuple[str, ...] = ()
) -> Obj:
    """Set the text and boolean fields that `params` names and merge its metadata into `obj`;
    the previous values of what changed (an update event's `previous_attributes`)."""
    previous: Obj = {}
    for name in texts:
        if name in params:
            _change(obj, previous, name, p.text(params, name))
    for name in flags:
        if name in params:
            _change(obj, previous, name, p.boolean(params, name))
    metadata = _meta(obj["metadata"], params)
    if metadata is not None:
        _change(obj, previous, "metadata", metadata)
    return previous


# -- customers ---------------------------------------------------------------------------------------


def create_customer(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    address = p.mapping(params, "address")
    payment_method = params.get("payment_method", "default")
    customer = customers.create(
        ledger,
        email=p.text(params, "email"),
        name=p.text(params, "name"),
        description=p.text(params, "description"),
        phone=p.text(params, "phone"),
        country=(address or {}).get("country"),
        metadata=_meta({}, params) or {},
        payment_method=None if payment_method in ("", "none", None) else "default",
    )
    if address:
        customer["address"] = {
            key: address.get(key)
            for key in ("city", "country", "line1", "line2", "postal_code", "state")
        }
        ledger.put(customer)
    _customer_discount(ledger, customer, params)
    return customer


def _customer_discount(ledger: StoreLedger, customer: Obj, params: Obj) -> None:
    """`coupon=` or `promotion_code=` on a customer: apply it (switching the customer's
    discount to it if it has one); `coupon=""` removes the discount."""
    if params.get("promotion_code"):
        code = fetch(ledger, "promotion_code", params["promotion_code"], "promotion_code")
        if not code["active"]:
            raise invalid(f"This promotion code is inactive: {code['code']}", "promotion_code")
        coupon = fetch(ledger, "coupon", code["promotion"]["coupon"], "promotion_code")
        customers.apply_coupon(ledger, customer, coupon, promotion_code=code["id"])
    elif params.get("coupon"):
        coupon = fetch(ledger, "coupon", params["coupon"], "coupon")
        customers.apply_coupon(ledger, customer, coupon)
    elif params.get("coupon") == "":
        customers.remove_discount(ledger, customer)


def update_customer(world: World, ledger: StoreLedger, params: Obj, customer_id: str) -> Obj:
    customer = fetch(ledger, "customer", customer_id)
    fields: Obj = {}
    for name in ("email", "name", "description", "phone"):
        if name in params:
            fields[name] = p.text(params, name)
    if "address" in params:
        address = p.mapping(params, "address") or {}
        fields["address"] = (
            {
                key: address.get(key)
                for key in ("city", "country", "line1", "line2", "postal_code", "state")
            }
            if address
            else None
        )
    settings = p.mapping(params, "invoice_settings")
    if settings and "default_payment_method" in settings:
        fields["invoice_settings"] = dict(
            customer["invoice_settings"],
            default_payment_method=settings["default_payment_method"] or None,
        )
    metadata = _meta(customer["metadata"], params)
    if metadata is not None:
        fields["metadata"] = metadata
    if fields or not ("coupon" in params or "promotion_code" in params):
        customers.update(ledger, customer, fields)
    _customer_discount(ledger, customer, params)
    return customer


def delete_customer_discount(
    world: World, ledger: StoreLedger, params: Obj, customer_id: str
) -> Obj:
    customer = fetch(ledger, "customer", customer_id)
    removed = customers.remove_discount(ledger, customer)
    if removed is None:
        raise SandboxError(
            404, f"No active discount for customer: '{customer_id}'", param="customer"
        )
    return removed


def delete_subscription_discount(
    world: World, ledger: StoreLedger, params: Obj, subscription_id: str
) -> Obj:
    return billing.remove_discounts(ledger, fetch(ledger, "subscription", subscription_id))


def delete_customer(world: World, ledger: StoreLedger, params: Obj, customer_id: str) -> Obj:
    customer = fetch(ledger, "customer", customer_id)
    subscriptions = ledger.by_customer(customer_id, "subscription")
    return customers.delete(ledger, customer, subscriptions)


# -- catalog ------------------------------------------------------------------------------------------


def create_product(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    name = p.required(params, "name")
    product_id = p.text(params, "id") or ledger.ids.new("prod")
    if ledger.get(product_id) is not None:
        raise SandboxError(
            400, "Product already exists.", code="resource_already_exists", param="id"
        )
    product = shapes.product(
        product_id,
        str(name),
        ledger.now,
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )
    return _new_catalog_object(ledger, product, params)


def _new_catalog_object(ledger: StoreLedger, obj: Obj, params: Obj) -> Obj:
    """A new product or price: active unless `active=false`, stored, announced."""
    obj["active"] = p.boolean(params, "active", True)
    ledger.put(obj)
    ledger.emit(f"{obj['object']}.created", obj)
    _emit_plan(ledger, "plan.created", obj)
    return obj


def _emit_plan(ledger: StoreLedger, type: str, price: Obj, previous: Obj | None = None) -> None:
    """Stripe still announces a recurring price as a plan too (the same change, older names)."""
    if price["object"] != "price":
        return
    plan = shapes.plan_of(price)
    if plan is not None:
        if previous is not None:
            previous = {key: value for key, value in previous.items() if key in plan}
        ledger.emit(type, plan, previous)


def update_product(world: World, ledger: StoreLedger, params: Obj, product_id: str) -> Obj:
    product = fetch(ledger, "product", product_id)
    previous: Obj = {}
    for name in ("name", "description", "url", "unit_label", "statement_descriptor"):
        if name in params:
            if name == "name":
                _change(product, previous, name, p.required(params, name))
            else:
                _change(product, previous, name, p.text(params, name))
    if "active" in params:
        _change(product, previous, "active", p.boolean(params, "active"))
    if "default_price" in params:
        price_id = p.text(params, "default_price")
        if price_id:
            fetch(ledger, "price", price_id, "default_price")
        _change(product, previous, "default_price", price_id)
    metadata = _meta(product["metadata"], params)
    if metadata is not None:
        _change(product, previous, "metadata", metadata)
    if previous:
        previous.setdefault("updated", product["updated"])
        product["updated"] = ledger.now
    ledger.put(product)
    ledger.emit("product.updated", product, previous)
    return product


def create_price(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    currency = str(p.required(params, "currency")).lower()
    product_data = p.mapping(params, "product_data")
    if product_data:
        product = create_product(world, ledger, product_data)
    else:
        product = fetch(ledger, "product", p.required(params, "product"), "product")
    unit_amount = p.integer(params, "unit_amount", minimum=0)
    if unit_amount is None:
        raise SandboxError(
            400,
            "Missing required param: unit_amount.",
            code="parameter_missing",
            param="unit_amount",
        )
    recurring = p.mapping(params, "recurring")
    interval = None
    count = 1
    meter = None
    if recurring:
        interval = recurring.get("interval")
        if interval not in ("day", "week", "month", "year"):
            raise invalid(f"Invalid recurring[interval]: {interval}", "recurring[interval]")
        count = p.integer(recurring, "interval_count", 1, minimum=1) or 1
        meter = _meter_of(ledger, recurring)
    price = shapes.price(
        ledger.ids.new("price"),
        product["id"],
        currency,
        unit_amount,
        ledger.now,
        interval=interval,
        interval_count=count,
        nickname=p.text(params, "nickname"),
        lookup_key=p.text(params, "lookup_key"),
        meter=meter,
        metadata=_meta({}, params) or {},
    )
    return _new_catalog_object(ledger, price, params)


def _meter_of(ledger: StoreLedger, recurring: Obj) -> str | None:
    """The meter a metered price bills (`recurring[usage_type]=metered`), which Stripe
    requires of metered prices since meters replaced usage records; None for licensed ones."""
    usage_type = p.text(recurring, "usage_type") or "licensed"
    if usage_type not in ("licensed", "metered"):
        raise invalid(f"Invalid recurring[usage_type]: {usage_type}", "recurring[usage_type]")
    meter = p.text(recurring, "meter")
    if usage_type == "licensed":
        if meter:
            raise invalid("A meter can only be set on a metered price.", "recurring[meter]")
        return None
    if not meter:
        raise SandboxError(
            400,
            "Missing required param: recurring[meter].",
            code="parameter_missing",
            param="recurring[meter]",
        )
    return fetch(ledger, "billing.meter", meter, "recurring[meter]")["id"]


def update_price(world: World, ledger: StoreLedger, params: Obj, price_id: str) -> Obj:
    price = fetch(ledger, "price", price_id)
    previous = _set_fields(price, params, texts=("nickname", "lookup_key"), flags=("active",))
    ledger.put(price)
    ledger.emit("price.updated", price, previous)
    _emit_plan(ledger, "plan.updated", price, previous)
    return price


def create_coupon(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    percent_off = p.number(params, "percent_off")
    amount_off = p.integer(params, "amount_off", minimum=1)
    if (percent_off is None) == (amount_off is None):
        raise invalid("You must pass exactly one of percent_off or amount_off.", "percent_off")
    if percent_off is not None and not 0 < percent_off <= 100:
        raise invalid("Invalid percent_off: must be between 0 and 100.", "percent_off")
    currency = p.text(params, "currency")
    if amount_off is not None and not currency:
        raise SandboxError(
            400, "Missing required param: currency.", code="parameter_missing", param="currency"
        )
    duration = p.text(params, "duration") or "once"
    if duration not in ("once", "repeating", "forever"):
        raise invalid(f"Invalid duration: {duration}", "duration")
    months = p.integer(params, "duration_in_months", minimum=1)
    if duration == "repeating" and months is None:
        raise SandboxError(
            400,
            "Missing required param: duration_in_months.",
            code="parameter_missing",
            param="duration_in_months",
        )
    coupon_id = p.text(params, "id") or ledger.ids.token(8)
    if ledger.get(coupon_id) is not None:
        raise SandboxError(
            400, "Coupon already exists.", code="resource_already_exists", param="id"
        )
    coupon = shapes.coupon(
        coupon_id,
        ledger.now,
        duration=duration,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency.lower() if currency else None,
        duration_in_months=months,
        name=p.text(params, "name"),
        metadata=_meta({}, params) or {},
    )
    coupon["max_redemptions"] = p.integer(params, "max_redemptions", minimum=1)
    coupon["redeem_by"] = p.integer(params, "redeem_by")
    ledger.put(coupon)
    ledger.emit("coupon.created", coupon)
    return coupon


def update_coupon(world: World, ledger: StoreLedger, params: Obj, coupon_id: str) -> Obj:
    coupon = fetch(ledger, "coupon", coupon_id)
    previous = _set_fields(coupon, params, texts=("name",))
    ledger.put(coupon)
    ledger.emit("coupon.updated", coupon, previous)
    return coupon


def create_tax_rate(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    display_name = str(p.required(params, "display_name"))
    percentage = p.number(params, "percentage")
    if percentage is None:
        raise SandboxError(
            400,
            "Missing required param: percentage.",
            code="parameter_missing",
            param="percentage",
        )
    if not 0 <= percentage <= 100:
        raise invalid("Invalid percentage: must be between 0 and 100.", "percentage")
    inclusive = p.boolean(params, "inclusive")
    if inclusive is None:
        raise SandboxError(
            400, "Missing required param: inclusive.", code="parameter_missing", param="inclusive"
        )
    country = p.text(params, "country")
    rate = shapes.tax_rate(
        ledger.ids.new("txr"),
        ledger.now,
        percentage=percentage,
        country=country.upper() if country else None,
        display_name=display_name,
        inclusive=inclusive,
        description=p.text(params, "description"),
        jurisdiction=p.text(params, "jurisdiction"),
        tax_type=p.text(params, "tax_type"),
        active=bool(p.boolean(params, "active", True)),
        metadata=_meta({}, params) or {},
    )
    ledger.put(rate)
    ledger.emit("tax_rate.created", rate)
    return rate


def update_tax_rate(world: World, ledger: StoreLedger, params: Obj, rate_id: str) -> Obj:
    """Only the descriptive fields change: Stripe never changes a rate's percentage."""
    rate = fetch(ledger, "tax_rate", rate_id)
    texts = ("description", "display_name", "jurisdiction", "country", "state", "tax_type")
    previous = _set_fields(rate, params, texts=texts, flags=("active",))
    ledger.put(rate)
    ledger.emit("tax_rate.updated", rate, previous)
    return rate


def create_promotion_code(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    promotion = p.mapping(params, "promotion") or {}
    if promotion.get("type", "coupon") != "coupon":
        raise invalid(f"Invalid promotion[type]: {promotion.get('type')}", "promotion[type]")
    coupon_id = promotion.get("coupon")
    if not coupon_id:
        raise SandboxError(
            400,
            "Missing required param: promotion[coupon].",
            code="parameter_missing",
            param="promotion[coupon]",
        )
    coupon = fetch(ledger, "coupon", coupon_id, "promotion[coupon]")
    code = p.text(params, "code") or ledger.ids.token(8).upper()
    customer = p.text(params, "customer")
    if customer:
        fetch(ledger, "customer", customer, "customer")
    restrictions = p.mapping(params, "restrictions") or {}
    minimum_currency = restrictions.get("minimum_amount_currency")
    promotion_code = shapes.promotion_code(
        ledger.ids.new("promo"),
        code,
        coupon["id"],
        ledger.now,
        customer=customer,
        expires_at=p.integer(params, "expires_at"),
        max_redemptions=p.integer(params, "max_redemptions", minimum=1),
        first_time_transaction=bool(p.boolean(restrictions, "first_time_transaction", False)),
        minimum_amount=p.integer(restrictions, "minimum_amount", minimum=1),
        minimum_amount_currency=str(minimum_currency).lower() if minimum_currency else None,
        active=bool(p.boolean(params, "active", True)),
        metadata=_meta({}, params) or {},
    )
    ledger.put(promotion_code)
    ledger.emit("promotion_code.created", promotion_code)
    return promotion_code


def update_promotion_code(world: World, ledger: StoreLedger, params: Obj, code_id: str) -> Obj:
    """Codes can be switched off and on, and their metadata changed; nothing else."""
    code = fetch(ledger, "promotion_code", code_id)
    previous = _set_fields(code, params, flags=("active",))
    ledger.put(code)
    ledger.emit("promotion_code.updated", code, previous)
    return code


def create_shipping_rate(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    display_name = str(p.required(params, "display_name"))
    if (p.text(params, "type") or "fixed_amount") != "fixed_amount":
        raise invalid(f"Invalid type: {params['type']}", "type")
    fixed = p.mapping(params, "fixed_amount")
    if not fixed:
        raise SandboxError(
            400,
            "Missing required param: fixed_amount.",
            code="parameter_missing",
            param="fixed_amount",
        )
    amount = p.integer(fixed, "amount", minimum=0)
    currency = p.text(fixed, "currency")
    if amount is None or not currency:
        raise SandboxError(
            400,
            "Missing required param: fixed_amount[amount] and fixed_amount[currency].",
            code="parameter_missing",
            param="fixed_amount",
        )
    behavior = p.text(params, "tax_behavior") or "unspecified"
    if behavior not in ("exclusive", "inclusive", "unspecified"):
        raise invalid(f"Invalid tax_behavior: {behavior}", "tax_behavior")
    rate = shapes.shipping_rate(
        ledger.ids.new("shr"),
        ledger.now,
        display_name=display_name,
        amount=amount,
        currency=currency.lower(),
        tax_behavior=behavior,
        metadata=_meta({}, params) or {},
    )
    estimate = p.mapping(params, "delivery_estimate")
    if estimate:
        rate["delivery_estimate"] = {
            bound: {"unit": str(value.get("unit")), "value": p.integer(value, "value")}
            if isinstance(value, dict)
            else None
            for bound, value in (
                ("maximum", estimate.get("maximum")),
                ("minimum", estimate.get("minimum")),
            )
        }
    ledger.put(rate)
    return rate


def update_shipping_rate(world: World, ledger: StoreLedger, params: Obj, rate_id: str) -> Obj:
    """Stripe announces no change of a shipping rate: no event."""
    rate = fetch(ledger, "shipping_rate", rate_id)
    _set_fields(rate, params, flags=("active",))
    ledger.put(rate)
    return rate


def create_billing_meter(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """A meter of usage events named `event_name`; Stripe requires its aggregation formula."""
    aggregation = p.mapping(params, "default_aggregation") or {}
    formula = p.text(aggregation, "formula")
    if formula is None:
        raise SandboxError(
            400,
            "Missing required param: default_aggregation[formula].",
            code="parameter_missing",
            param="default_aggregation",
        )
    if formula not in ("count", "last", "sum"):
        raise invalid(f"Invalid default_aggregation[formula]: {formula}", "default_aggregation")
    mapping = p.mapping(params, "customer_mapping") or {}
    value = p.mapping(params, "value_settings") or {}
    meter = shapes.billing_meter(
        ledger.ids.new("mtr"),
        ledger.now,
        display_name=str(p.required(params, "display_name")),
        event_name=str(p.required(params, "event_name")),
        formula=formula,
        customer_key=p.text(mapping, "event_payload_key") or "stripe_customer_id",
        value_key=p.text(value, "event_payload_key") or "value",
    )
    ledger.put(meter)
    ledger.emit("billing.meter.created", meter)
    return meter


def update_billing_meter(world: World, ledger: StoreLedger, params: Obj, meter_id: str) -> Obj:
    """Only a meter's display name can change."""
    meter = fetch(ledger, "billing.meter", meter_id)
    previous: Obj = {}
    if "display_name" in params:
        _change(meter, previous, "display_name", str(p.required(params, "display_name")))
    if previous:
        _change(meter, previous, "updated", ledger.now)
    ledger.put(meter)
    ledger.emit("billing.meter.updated", meter, previous)
    return meter


def _meter_status(status: str) -> Callable[[World, StoreLedger, Obj, str], Obj]:
    """Deactivate (no more usage accepted) or reactivate a meter, with its event."""
    event = "billing.meter.deactivated" if status == "inactive" else "billing.meter.reactivated"

    def handler(world: World, ledger: StoreLedger, params: Obj, meter_id: str) -> Obj:
        meter = fetch(ledger, "billing.meter", meter_id)
        previous: Obj = {}
        _change(meter, previous, "status", status)
        deactivated = ledger.now if status == "inactive" else None
        _change(meter, previous, "status_transitions", {"deactivated_at": deactivated})
        _change(meter, previous, "updated", ledger.now)
        ledger.put(meter)
        ledger.emit(event, meter, previous)
        return meter

    return handler


def create_entitlement_feature(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """A feature; Stripe announces no change of features: no event."""
    feature = shapes.entitlement_feature(
        ledger.ids.new("feat"),
        name=str(p.required(params, "name")),
        lookup_key=str(p.required(params, "lookup_key")),
        metadata=_meta({}, params) or {},
    )
    ledger.put(feature)
    return feature


def update_entitlement_feature(
    world: World, ledger: StoreLedger, params: Obj, feature_id: str
) -> Obj:
    """Features can be renamed, archived (`active=false`) and restored; no event."""
    feature = fetch(ledger, "entitlements.feature", feature_id)
    _set_fields(feature, params, texts=("name",), flags=("active",))
    ledger.put(feature)
    return feature


def create_payment_link(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """A payment link selling `line_items` (each an existing price); its currency is theirs."""
    items = p.listing(params, "line_items")
    if not items:
        raise SandboxError(
            400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    prices = [
        fetch(ledger, "price", item.get("price") if isinstance(item, dict) else None, "line_items")
        for item in items
    ]
    link = shapes.payment_link(
        ledger.ids.new("plink"), currency=prices[0]["currency"], metadata=_meta({}, params) or {}
    )
    ledger.put(link)
    ledger.emit("payment_link.created", link)
    return link


def update_payment_link(world: World, ledger: StoreLedger, params: Obj, link_id: str) -> Obj:
    """A link can be switched off and on, and its metadata changed."""
    link = fetch(ledger, "payment_link", link_id)
    previous = _set_fields(link, params, flags=("active",))
    ledger.put(link)
    ledger.emit("payment_link.updated", link, previous)
    return link


# -- quotes and credit grants ------------------------------------------------------------------


def create_quote(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """A draft quote for a customer of `line_items` (existing prices, quantity 1 unless said)."""
    customer = fetch(ledger, "customer", p.required(params, "customer"), "customer")
    items: list[tuple[Obj, int]] = []
    for item in p.listing(params, "line_items") or ():
        if not isinstance(item, dict):
            raise invalid("Invalid line_items: each needs a price.", "line_items")
        price = fetch(ledger, "price", item.get("price"), "line_items")
        items.append((price, p.integer(item, "quantity", 1, minimum=1) or 1))
    collection_method = p.text(params, "collection_method") or "charge_automatically"
    if collection_method not in ("charge_automatically", "send_invoice"):
        raise invalid(f"Invalid collection_method: {collection_method}", "collection_method")
    settings = p.mapping(params, "invoice_settings") or {}
    expires_at = p.timestamp(params, "expires_at", ledger.now)
    if expires_at is not None and int(expires_at) <= ledger.now:
        raise invalid("expires_at must be in the future.", "expires_at")
    quote = quotes.draft(
        ledger,
        customer,
        items,
        expires_at=None if expires_at is None else int(expires_at),
        collection_method=collection_method,
        days_until_due=p.integer(settings, "days_until_due", minimum=0),
        description=p.text(params, "description"),
        header=p.text(params, "header"),
        metadata=_meta({}, params) or {},
    )
    if "footer" in params:
        quote["footer"] = p.text(params, "footer")
        ledger.put(quote)
    return quote


def update_quote(world: World, ledger: StoreLedger, params: Obj, quote_id: str) -> Obj:
    """Only a draft's texts and metadata change here; Stripe sends no event for an update."""
    quote = fetch(ledger, "quote", quote_id)
    if quote["status"] != "draft" and set(params) - {"metadata", "expand"}:
        raise SandboxError(
            400,
            f"This quote cannot be updated because it has a status of {quote['status']}.",
            code="quote_status_invalid",
        )
    _set_fields(quote, params, texts=("description", "header", "footer"))
    ledger.put(quote)
    return quote


def _quote_action(action: str) -> Callable[[World, StoreLedger, Obj, str], Obj]:
    """Finalize (send), accept or cancel a quote, with its event."""
    run = {"finalize": quotes.finalize, "accept": quotes.accept, "cancel": quotes.cancel}[action]

    def handler(world: World, ledger: StoreLedger, params: Obj, quote_id: str) -> Obj:
        return run(ledger, fetch(ledger, "quote", quote_id))

    return handler


def create_credit_grant(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """Credits for a customer's metered usage: a monetary amount, the only kind Stripe has."""
    customer = fetch(ledger, "customer", p.required(params, "customer"), "customer")
    amount = p.mapping(params, "amount") or {}
    if (amount.get("type") or "monetary") != "monetary":
        raise invalid(f"Invalid amount[type]: {amount.get('type')}", "amount[type]")
    monetary = p.mapping(amount, "monetary") or {}
    value = p.integer(monetary, "value", minimum=1)
    currency = p.text(monetary, "currency")
    if value is None or not currency:
        raise SandboxError(
            400,
            "Missing required param: amount[monetary][value] and amount[monetary][currency].",
            code="parameter_missing",
            param="amount",
        )
    scope = (p.mapping(params, "applicability_config") or {}).get("scope") or {}
    if not isinstance(scope, dict) or scope.get("price_type") != "metered":
        raise invalid(
            "applicability_config[scope][price_type] must be metered.", "applicability_config"
        )
    effective_at = p.timestamp(params, "effective_at", ledger.now)
    expires_at = p.timestamp(params, "expires_at", ledger.now)
    return credits.grant(
        ledger,
        customer,
        value,
        currency.lower(),
        category=p.text(params, "category") or "paid",
        name=p.text(params, "name"),
        effective_at=None if effective_at is None else int(effective_at),
        expires_at=None if expires_at is None else int(expires_at),
        priority=p.integer(params, "priority", 50) or 0,
        metadata=_meta({}, params) or {},
    )


def update_credit_grant(world: World, ledger: StoreLedger, params: Obj, grant_id: str) -> Obj:
    """A grant's expiry (empty: never) and metadata can change."""
    found = fetch(ledger, "billing.credit_grant", grant_id)
    changes: Obj = {}
    if "expires_at" in params:
        expires_at = p.timestamp(params, "expires_at", ledger.now)
        changes["expires_at"] = None if expires_at is None else int(expires_at)
    metadata = _meta(found["metadata"], params)
    if metadata is not None:
        changes["metadata"] = metadata
    return credits.change(ledger, found, changes)


def _credit_grant_action(action: str) -> Callable[[World, StoreLedger, Obj, str], Obj]:
    """Expire or void a grant now (`billing.credit_grant.updated`)."""
    run = {"expire": credits.expire, "void": credits.void}[action]

    def handler(world: World, ledger: StoreLedger, params: Obj, grant_id: str) -> Obj:
        return run(ledger, fetch(ledger, "billing.credit_grant", grant_id))

    return handler


def _delete_catalog(kind: str) -> Callable[[World, StoreLedger, Obj, str], Obj]:
    def handler(world: World, ledger: StoreLedger, params: Obj, object_id: str) -> Obj:
        obj = fetch(ledger, kind, object_id)
        world.store.set_meta(f"tombstone:{object_id}", obj)
        ledger.emit(f"{kind}.deleted", obj)
        _emit_plan(ledger, "plan.deleted", obj)
        stub = shapes.deleted_stub(object_id, kind)
        ledger.put(stub)
        return stub

    return handler


# -- subscriptions ------------------------------------------------------------------------------------


def _item_specs(ledger: StoreLedger, entries: list[Any]) -> list[billing.ItemSpec]:
    specs = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise invalid("Invalid array: items", "items")
        price_id = entry.get("price") or entry.get("plan")
        if not price_id:
            raise SandboxError(
                400,
                "Missing required param: items[0][price].",
                code="parameter_missing",
                param="items",
            )
        price = fetch(ledger, "price", price_id, "items[0][price]")
        quantity = p.integer(entry, "quantity", 1, minimum=0)
        coupons = _coupons(ledger, entry) or ()
        metadata = p.mapping(entry, "metadata")
        specs.append(billing.ItemSpec(price, quantity or 0, coupons, metadata or None))
    return specs


def create_subscription(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    customer = fetch(ledger, "customer", p.required(params, "customer"), "customer")
    entries = p.listing(params, "items")
    if not entries:
        raise SandboxError(
            400, "Missing required param: items.", code="parameter_missing", param="items"
        )
    specs = _item_specs(ledger, entries)
    trial_end = p.timestamp(params, "trial_end", ledger.now, allow_now=True)
    days = p.integer(params, "trial_period_days", minimum=0)
    if trial_end == "now":
        trial_end = None
    if trial_end is None and days:
        trial_end = ledger.now + days * 86_400
    settings = p.mapping(params, "trial_settings") or {}
    behavior = (
        (settings.get("end_behavior") or {}).get("missing_payment_method")
    ) or "create_invoice"
    metadata = _meta({}, params) or {}
    return billing.create(
        ledger,
        customer,
        specs,
        trial_end=trial_end if isinstance(trial_end, int) else None,
        coupons=_coupons(ledger, params) or (),
        metadata=metadata,
        missing_payment_method=behavior,
        tax_rates=_tax_rates(ledger, params, "default_tax_rates"),
        description=p.text(params, "description"),
        cancel_at_period_end=bool(p.boolean(params, "cancel_at_period_end", False)),
        promotion_codes=_promotion_codes(ledger, params),
    )


def update_subscription(
    world: World, ledger: StoreLedger, params: Obj, subscription_id: str
) -> Obj:
    subscription = fetch(ledger, "subscription", subscription_id)
    kwargs: Obj = {}
    entries = p.listing(params, "items")
    if entries:
        changes = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise invalid("Invalid array: items", "items")
            price_id = entry.get("price") or entry.get("plan")
            changes.append(
                billing.ItemChange(
                    id=entry.get("id") or None,
                    price=fetch(ledger, "price", price_id, "items[0][price]") if price_id else None,
                    quantity=p.integer(entry, "quantity", minimum=0),
                    deleted=bool(p.boolean(entry, "deleted", False)),
                    metadata=p.mapping(entry, "metadata"),
                )
            )
        kwargs["changes"] = changes
    if "proration_behavior" in params:
        kwargs["proration_behavior"] = p.text(params, "proration_behavior") or "create_prorations"
    if "cancel_at_period_end" in params:
        kwargs["cancel_at_period_end"] = p.boolean(params, "cancel_at_period_end")
    if "cancel_at" in params:
        kwargs["cancel_at"] = p.timestamp(params, "cancel_at", ledger.now)
    if "pause_collection" in params:
        pause = p.mapping(params, "pause_collection")
        if pause:
            kwargs["pause_collection"] = {
                "behavior": pause.get("behavior"),
                "resumes_at": p.integer(pause, "resumes_at"),
            }
        else:
            kwargs["pause_collection"] = None
    metadata = _meta(subscription["metadata"], params)
    if metadata is not None:
        kwargs["metadata"] = metadata
    if "trial_end" in params:
        kwargs["trial_end"] = p.timestamp(params, "trial_end", ledger.now, allow_now=True)
    if "description" in params:
        kwargs["description"] = p.text(params, "description")
    coupons = _coupons(ledger, params)
    if coupons is not None:
        kwargs["coupons"] = coupons
    details = p.mapping(params, "cancellation_details")
    if details:
        kwargs["cancellation_feedback"] = details.get("feedback") or None
    return billing.update(ledger, subscription, **kwargs)


def cancel_subscription(
    world: World, ledger: StoreLedger, params: Obj, subscription_id: str
) -> Obj:
    subscription = ledger.get(subscription_id)
    if subscription is None or subscription.get("object") != "subscription":
        raise missing("subscription", subscription_id)
    if subscription["status"] in billing.ENDED:
        raise SandboxError(
            404,
            f"No such subscription: '{subscription_id}'",
            code="resource_missing",
            param="id",
        )
    details = p.mapping(params, "cancellation_details") or {}
    return billing.cancel(
        ledger,
        subscription,
        feedback=details.get("feedback") or None,
        invoice_now=bool(p.boolean(params, "invoice_now", False)),
        prorate=bool(p.boolean(params, "prorate", False)),
    )


def resume_subscription(
    world: World, ledger: StoreLedger, params: Obj, subscription_id: str
) -> Obj:
    return billing.resume(ledger, fetch(ledger, "subscription", subscription_id))


def create_subscription_schedule(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """From a live subscription only (`from_subscription`): the sandbox does not build
    schedules from a list of phases for a new subscription."""
    if "phases" in params or "customer" in params:
        raise invalid(
            "The sandbox creates subscription schedules from_subscription only.", "phases"
        )
    subscription = fetch(
        ledger, "subscription", p.required(params, "from_subscription"), "from_subscription"
    )
    return schedules.book(
        ledger, subscription, billing.items_of(ledger, subscription), metadata=_meta({}, params)
    )


def update_subscription_schedule(
    world: World, ledger: StoreLedger, params: Obj, schedule_id: str
) -> Obj:
    schedule = fetch(ledger, "subscription_schedule", schedule_id)
    if schedule["status"] not in schedules.OPEN:
        raise invalid(
            f"You cannot update a subscription schedule that is {schedule['status']}.",
            "subscription_schedule",
        )
    previous: Obj = {}
    if "end_behavior" in params:
        behavior = p.text(params, "end_behavior")
        if behavior not in ("release", "cancel"):
            raise invalid(f"Invalid end_behavior: {behavior}", "end_behavior")
        _change(schedule, previous, "end_behavior", behavior)
    metadata = _meta(schedule["metadata"], params)
    if metadata is not None:
        _change(schedule, previous, "metadata", metadata)
    ledger.put(schedule)
    ledger.emit("subscription_schedule.updated", schedule, previous)
    return schedule


def cancel_subscription_schedule(
    world: World, ledger: StoreLedger, params: Obj, schedule_id: str
) -> Obj:
    """Stripe cancels the schedule's subscription with it, at once."""
    schedule = fetch(ledger, "subscription_schedule", schedule_id)
    subscription = ledger.get(schedule["subscription"]) if schedule["subscription"] else None
    if subscription is not None and subscription["status"] not in billing.ENDED:
        billing.cancel(ledger, subscription)
        return fetch(ledger, "subscription_schedule", schedule_id)
    return schedules.cancel(ledger, schedule)


def release_subscription_schedule(
    world: World, ledger: StoreLedger, params: Obj, schedule_id: str
) -> Obj:
    schedule = fetch(ledger, "subscription_schedule", schedule_id)
    subscription = ledger.get(schedule["subscription"]) if schedule["subscription"] else None
    schedules.release(ledger, schedule, subscription)
    if subscription is not None:
        ledger.schedule(subscription["id"], billing.next_due(subscription))
    return schedule


# -- invoices -----------------------------------------------------------------------------------------


def create_invoiceitem(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    customer = fetch(ledger, "customer", p.required(params, "customer"), "customer")
    price = None
    price_id = params.get("price") or (p.mapping(params, "pricing") or {}).get("price")
    if price_id:
        price = fetch(ledger, "price", price_id, "price")
    amount = p.integer(params, "amount")
    unit_amount = p.integer(params, "unit_amount")
    if price is None and amount is None and unit_amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    currency = (
        p.text(params, "currency") or (price or {}).get("currency") or customer.get("currency")
    )
    if not currency:
        raise SandboxError(
            400, "Missing required param: currency.", code="parameter_missing", param="currency"
        )
    subscription = None
    if params.get("subscription"):
        subscription = fetch(ledger, "subscription", params["subscription"], "subscription")
    invoice = None
    if params.get("invoice"):
        invoice = fetch(ledger, "invoice", params["invoice"], "invoice")
    period = p.mapping(params, "period")
    return invoicing.create_invoiceitem(
        ledger,
        customer,
        currency=currency.lower(),
        amount=amount,
        price=price,
        quantity=p.integer(params, "quantity", 1, minimum=1) or 1,
        unit_amount=unit_amount,
        description=p.text(params, "description"),
        coupons=_coupons(ledger, params) or (),
        subscription=subscription,
        invoice=invoice,
        period=(p.integer(period, "start"), p.integer(period, "end")) if period else None,  # type: ignore[arg-type]
        metadata=_meta({}, params) or {},
        discountable=bool(p.boolean(params, "discountable", True)),
    )


def delete_invoiceitem(world: World, ledger: StoreLedger, params: Obj, item_id: str) -> Obj:
    item = fetch(ledger, "invoiceitem", item_id)
    invoice = ledger.get(item["invoice"]) if item.get("invoice") else None
    if invoice is not None and invoice.get("status") != "draft":
        raise SandboxError(
            400,
            "This invoice item is attached to an invoice that is no longer editable.",
            code="invoice_not_editable",
        )
    if invoice is not None:
        for line in invoicing.lines_of(ledger, invoice):
            details = (
                line["parent"].get("invoice_item_details")
                or line["parent"].get("subscription_item_details")
                or {}
            )
            if details.get("invoice_item") == item_id:
                ledger.put(shapes.deleted_stub(line["id"], "line_item"))
        invoicing.compute(ledger, invoice)
    ledger.emit("invoiceitem.deleted", item)
    stub = shapes.deleted_stub(item_id, "invoiceitem")
    ledger.put(stub)
    return stub


def create_invoice(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    customer = fetch(ledger, "customer", p.required(params, "customer"), "customer")
    subscription = None
    if params.get("subscription"):
        subscription = fetch(ledger, "subscription", params["subscription"], "subscription")
    behavior = p.text(params, "pending_invoice_items_behavior") or "exclude"
    if behavior not in ("include", "exclude"):
        raise invalid(
            f"Invalid pending_invoice_items_behavior: {behavior}", "pending_invoice_items_behavior"
        )
    currency = p.text(params, "currency")
    return invoicing.standalone(
        ledger,
        customer,
        currency=currency.lower() if currency else None,
        include_pending=behavior == "include",
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
        coupons=_coupons(ledger, params) or (),
        tax_rates=_tax_rates(ledger, params, "default_tax_rates"),
        auto_advance=bool(p.boolean(params, "auto_advance", False)),
        subscription=subscription,
    )


def update_invoice(world: World, ledger: StoreLedger, params: Obj, invoice_id: str) -> Obj:
    invoice = fetch(ledger, "invoice", invoice_id)
    previous: Obj = {}
    metadata = _meta(invoice["metadata"], params)
    if metadata is not None:
        _change(invoice, previous, "metadata", metadata)
    for name in ("description", "footer"):
        if name in params:
            if invoice["status"] != "draft" and name == "description":
                raise SandboxError(
                    400,
                    "You can only update the description of a draft invoice.",
                    code="invoice_not_editable",
                )
            previous[name] = invoice.get(name)
            invoice[name] = p.text(params, name)
    if "auto_advance" in params:
        previous["auto_advance"] = invoice["auto_advance"]
        invoice["auto_advance"] = p.boolean(params, "auto_advance")
    ledger.put(invoice)
    ledger.emit("invoice.updated", invoice, previous)
    return invoice


def delete_invoice(world: World, ledger: StoreLedger, params: Obj, invoice_id: str) -> Obj:
    return invoicing.delete_draft(ledger, fetch(ledger, "invoice", invoice_id))


def _invoice_action(name: str) -> Callable[[World, StoreLedger, Obj, str], Obj]:
    def handler(world: World, ledger: StoreLedger, params: Obj, invoice_id: str) -> Obj:
        invoice = fetch(ledger, "invoice", invoice_id)
        if name == "finalize":
            return invoicing.finalize(ledger, invoice)
        if name == "pay":
            if invoice["status"] == "draft":
                invoicing.finalize(ledger, invoice)
            return invoicing.pay(ledger, invoice)
        if name == "void":
            return invoicing.void(ledger, invoice)
        return invoicing.mark_uncollectible(ledger, invoice)

    return handler


# -- money movements -------------------------------------------------------------------------------------


def create_charge(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    amount = p.integer(params, "amount")
    if amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    if amount < 1:
        raise invalid("Amount must be at least 1.", "amount")
    currency = str(p.required(params, "currency")).lower()
    customer = None
    if params.get("customer"):
        customer = fetch(ledger, "customer", params["customer"], "customer")
    charge, _ = payments.create_charge(
        ledger,
        customer,
        amount,
        currency,
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )
    fee = p.integer(params, "application_fee_amount", minimum=1)
    if fee is not None:
        if ledger.account == world.account_id:
            raise invalid(
                "Can only apply an application_fee_amount when the request is made on behalf "
                "of another account (using an OAuth key, the Stripe-Account header, or the "
                "destination parameter).",
                "application_fee_amount",
            )
        collected = connect.collect_fee(world.ledger(world.account_id), charge, ledger.account, fee)
        charge.update(
            application=collected["application"],
            application_fee=collected["id"],
            application_fee_amount=fee,
        )
        ledger.put(charge)
    method = p.text(params, "payment_method") or p.text(params, "source")
    if method == radar.REVIEW_METHOD:
        radar.open_review(ledger, charge)
    elif method == radar.FRAUD_WARNING_METHOD:
        radar.warn(ledger, charge, "made_with_stolen_card")
    if customer is not None and not customer.get("currency"):
        customer["currency"] = currency
        ledger.put(customer)
    return charge


def update_charge(world: World, ledger: StoreLedger, params: Obj, charge_id: str) -> Obj:
    charge = fetch(ledger, "charge", charge_id)
    previous: Obj = {}
    metadata = _meta(charge["metadata"], params)
    if metadata is not None:
        _change(charge, previous, "metadata", metadata)
    if "description" in params:
        previous["description"] = charge["description"]
        charge["description"] = p.text(params, "description")
    ledger.put(charge)
    ledger.emit("charge.updated", charge, previous)
    return charge


def create_refund(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    charge_id = params.get("charge")
    if not charge_id and params.get("payment_intent"):
        intent = fetch(ledger, "payment_intent", params["payment_intent"], "payment_intent")
        charge_id = intent["latest_charge"]
    if not charge_id:
        raise SandboxError(
            400,
            "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing",
            param="charge",
        )
    charge = fetch(ledger, "charge", charge_id, "charge")
    reason = p.text(params, "reason")
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(f"Invalid reason: {reason}", "reason")
    return payments.refund_charge(
        ledger,
        charge,
        p.integer(params, "amount"),
        reason=reason,
        metadata=_meta({}, params) or {},
    )


def create_credit_note(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    invoice = fetch(ledger, "invoice", p.required(params, "invoice"), "invoice")
    lines = None
    entries = p.listing(params, "lines")
    if entries:
        lines = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("invoice_line_item"):
                raise invalid("Each credit note line needs an invoice_line_item.", "lines")
            amount = p.integer(entry, "amount")
            if amount is None:
                line = ledger.get(entry["invoice_line_item"])
                if line is None:
                    raise missing("line_item", entry["invoice_line_item"], "lines")
                amount = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
            lines.append((entry["invoice_line_item"], amount))
    return credit_notes.create(
        ledger,
        invoice,
        lines=lines,
        amount=p.integer(params, "amount"),
        reason=p.text(params, "reason"),
        memo=p.text(params, "memo"),
        refund=p.integer(params, "out_of_band_amount") is None,
        metadata=_meta({}, params) or {},
    )


def void_credit_note(world: World, ledger: StoreLedger, params: Obj, note_id: str) -> Obj:
    return credit_notes.void(ledger, fetch(ledger, "credit_note", note_id))


def create_dispute(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    charge = fetch(ledger, "charge", p.required(params, "charge"), "charge")
    reason = p.text(params, "reason") or "fraudulent"
    return payments.open_dispute(ledger, charge, reason=reason, amount=p.integer(params, "amount"))


def close_dispute(world: World, ledger: StoreLedger, params: Obj, dispute_id: str) -> Obj:
    dispute = fetch(ledger, "dispute", dispute_id)
    won = bool(p.boolean(params, "won", False)) or params.get("status") == "won"
    return payments.close_dispute(ledger, dispute, won=won)


def create_payout(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    amount = p.integer(params, "amount")
    if amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    currency = str(p.required(params, "currency")).lower()
    return payments.create_payout(
        ledger,
        amount,
        currency,
        automatic=False,
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )


# -- payments: intents, checkout, setup, radar, platform money movements ---------------------------------


def create_payment_intent(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    amount = p.integer(params, "amount")
    if amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    currency = str(p.required(params, "currency")).lower()
    customer = None
    if params.get("customer"):
        customer = fetch(ledger, "customer", params["customer"], "customer")
    intent = payments.open_intent(
        ledger,
        customer,
        amount,
        currency,
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )
    if p.boolean(params, "confirm", False):
        payments.confirm_intent(ledger, intent, customer)
    return intent


def confirm_payment_intent(world: World, ledger: StoreLedger, params: Obj, intent_id: str) -> Obj:
    intent = fetch(ledger, "payment_intent", intent_id)
    customer = ledger.get(intent["customer"]) if intent.get("customer") else None
    return payments.confirm_intent(ledger, intent, customer)


def cancel_payment_intent(world: World, ledger: StoreLedger, params: Obj, intent_id: str) -> Obj:
    reason = p.text(params, "cancellation_reason")
    if reason not in (None, "abandoned", "duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(f"Invalid cancellation_reason: {reason}", "cancellation_reason")
    return payments.cancel_intent(ledger, fetch(ledger, "payment_intent", intent_id), reason)


def create_checkout_session(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    mode = str(p.required(params, "mode"))
    if mode not in checkout.MODES:
        raise invalid(f"Invalid mode: must be one of {', '.join(checkout.MODES)}", "mode")
    customer = None
    if params.get("customer"):
        customer = fetch(ledger, "customer", params["customer"], "customer")
    amount, currency = 0, p.text(params, "currency")
    for entry in p.listing(params, "line_items") or []:
        if not isinstance(entry, dict) or not entry.get("price"):
            raise invalid("Each line item needs a price.", "line_items")
        price = fetch(ledger, "price", entry["price"], "line_items")
        amount += (price["unit_amount"] or 0) * (p.integer(entry, "quantity", 1, minimum=1) or 1)
        currency = currency or price["currency"]
    if mode != "setup" and not amount:
        raise SandboxError(
            400,
            "Missing required param: line_items.",
            code="parameter_missing",
            param="line_items",
        )
    session = checkout.open_session(
        ledger,
        mode=mode,
        currency=(currency or "usd").lower(),
        amount=amount,
        customer=customer,
        email=p.text(params, "customer_email"),
        metadata=_meta({}, params) or {},
    )
    ledger.schedule(session["id"], session["expires_at"])
    return session


def expire_checkout_session(world: World, ledger: StoreLedger, params: Obj, session_id: str) -> Obj:
    return checkout.expire(ledger, fetch(ledger, "checkout.session", session_id))


def create_setup_intent(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    customer = None
    if params.get("customer"):
        customer = fetch(ledger, "customer", params["customer"], "customer")
    usage = p.text(params, "usage") or "off_session"
    if usage not in ("off_session", "on_session"):
        raise invalid("Invalid usage: must be one of off_session, or on_session", "usage")
    intent = payments.open_setup_intent(
        ledger,
        customer,
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )
    intent["usage"] = usage
    ledger.put(intent)
    if p.boolean(params, "confirm", False):
        _confirm_setup(ledger, intent, customer, params)
    return intent


def _confirm_setup(ledger: StoreLedger, intent: Obj, customer: Obj | None, params: Obj) -> Obj:
    method = p.text(params, "payment_method") or payments.card_of(customer)[0]
    declined = method in payments.DECLINING_METHODS
    return payments.confirm_setup_intent(ledger, intent, method, declined=declined)


def confirm_setup_intent(world: World, ledger: StoreLedger, params: Obj, intent_id: str) -> Obj:
    intent = fetch(ledger, "setup_intent", intent_id)
    customer = ledger.get(intent["customer"]) if intent.get("customer") else None
    return _confirm_setup(ledger, intent, customer, params)


def cancel_setup_intent(world: World, ledger: StoreLedger, params: Obj, intent_id: str) -> Obj:
    reason = p.text(params, "cancellation_reason")
    if reason not in (None, "abandoned", "duplicate", "requested_by_customer"):
        raise invalid(f"Invalid cancellation_reason: {reason}", "cancellation_reason")
    return payments.cancel_setup_intent(ledger, fetch(ledger, "setup_intent", intent_id), reason)


def approve_review(world: World, ledger: StoreLedger, params: Obj, review_id: str) -> Obj:
    return radar.close_review(ledger, fetch(ledger, "review", review_id))


def _amount(params: Obj) -> int:
    amount = p.integer(params, "amount")
    if amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    return amount


def create_transfer(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    amount = _amount(params)
    currency = str(p.required(params, "currency")).lower()
    destination = str(p.required(params, "destination"))
    if destination not in world.connected_account_ids:
        raise missing("account", destination, "destination")
    return connect.create_transfer(
        ledger,
        amount,
        currency,
        destination,
        description=p.text(params, "description"),
        transfer_group=p.text(params, "transfer_group"),
        metadata=_meta({}, params) or {},
    )


def create_topup(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    """A top-up; in test mode the bank answers at once (it succeeds)."""
    topup = connect.create_topup(
        ledger,
        _amount(params),
        str(p.required(params, "currency")).lower(),
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )
    return connect.succeed_topup(ledger, topup)


# -- webhook endpoints ---------------------------------------------------------------------------------------


def create_webhook_endpoint(world: World, ledger: StoreLedger, params: Obj) -> Obj:
    url = str(p.required(params, "url"))
    events = p.listing(params, "enabled_events")
    if not events:
        raise SandboxError(
            400,
            "Missing required param: enabled_events.",
            code="parameter_missing",
            param="enabled_events",
        )
    endpoint = shapes.webhook_endpoint(
        ledger.ids.new("we"),
        url,
        ledger.now,
        enabled_events=[str(event) for event in events],
        api_version=p.text(params, "api_version"),
        description=p.text(params, "description"),
        metadata=_meta({}, params) or {},
    )
    ledger.put(endpoint)
    secret = f"whsec_{ledger.ids.token(32)}"
    world.store.set_meta(f"webhook_secret:{endpoint['id']}", secret)
    world.endpoints_changed()
    return dict(endpoint, secret=secret)


def update_webhook_endpoint(
    world: World, ledger: StoreLedger, params: Obj, endpoint_id: str
) -> Obj:
    endpoint = fetch(ledger, "webhook_endpoint", endpoint_id)
    if "url" in params:
        endpoint["url"] = str(p.required(params, "url"))
    events = p.listing(params, "enabled_events")
    if events:
        endpoint["enabled_events"] = [str(event) for event in events]
    if "disabled" in params:
        endpoint["status"] = "disabled" if p.boolean(params, "disabled") else "enabled"
    if "description" in params:
        endpoint["description"] = p.text(params, "description")
    metadata = _meta(endpoint["metadata"], params)
    if metadata is not None:
        endpoint["metadata"] = metadata
    ledger.put(endpoint)
    world.endpoints_changed()
    return endpoint


def delete_webhook_endpoint(
    world: World, ledger: StoreLedger, params: Obj, endpoint_id: str
) -> Obj:
    fetch(ledger, "webhook_endpoint", endpoint_id)
    stub = shapes.deleted_stub(endpoint_id, "webhook_endpoint")
    ledger.put(stub)
    world.endpoints_changed()
    return stub


CREATE: dict[str, Handler] = {
    "customers": create_customer,
    "products": create_product,
    "prices": create_price,
    "coupons": create_coupon,
    "subscriptions": create_subscription,
    "invoiceitems": create_invoiceitem,
    "invoices": create_invoice,
    "charges": create_charge,
    "refunds": create_refund,
    "credit_notes": create_credit_note,
    "disputes": create_dispute,
    "payouts": create_payout,
    "webhook_endpoints": create_webhook_endpoint,
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": create_tax_rate,
    "promotion_codes": create_promotion_code,
    "subscription_schedules": create_subscription_schedule,
    "shipping_rates": create_shipping_rate,
    # payments: intents, checkout, setup, radar, platform money movements
    "payment_intents": create_payment_intent,
    "checkout/sessions": create_checkout_session,
    "setup_intents": create_setup_intent,
    "transfers": create_transfer,
    "topups": create_topup,
    "billing/meters": create_billing_meter,
    "payment_links": create_payment_link,
    "entitlements/features": create_entitlement_feature,
    "quotes": create_quote,
    "billing/credit_grants": create_credit_grant,
}

UPDATE: dict[str, Callable[[World, StoreLedger, Obj, str], Obj]] = {
    "customers": update_customer,
    "products": update_product,
    "prices": update_price,
    "coupons": update_coupon,
    "subscriptions": update_subscription,
    "invoices": update_invoice,
    "charges": update_charge,
    "webhook_endpoints": update_webhook_endpoint,
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": update_tax_rate,
    "promotion_codes": update_promotion_code,
    "subscription_schedules": update_subscription_schedule,
    "shipping_rates": update_shipping_rate,
    "billing/meters": update_billing_meter,
    "payment_links": update_payment_link,
    "entitlements/features": update_entitlement_feature,
    "payment_methods": customer_children.update_handler,
    "quotes": update_quote,
    "billing/credit_grants": update_credit_grant,
}

DELETE: dict[str, Callable[[World, StoreLedger, Obj, str], Obj]] = {
    "customers": delete_customer,
    "products": _delete_catalog("product"),
    "prices": _delete_catalog("price"),
    "coupons": _delete_catalog("coupon"),
    "subscriptions": cancel_subscription,
    "invoiceitems": delete_invoiceitem,
    "invoices": delete_invoice,
    "webhook_endpoints": delete_webhook_endpoint,
}

# DELETE of a part of an object: `/v1/<resource>/<id>/<part>`.
DELETE_PARTS: dict[tuple[str, str], Callable[[World, StoreLedger, Obj, str], Obj]] = {
    ("customers", "discount"): delete_customer_discount,
    ("subscriptions", "discount"): delete_subscription_discount,
}

ACTIONS: dict[tuple[str, str], Callable[[World, StoreLedger, Obj, str], Obj]] = {
    ("invoices", "finalize"): _invoice_action("finalize"),
    ("invoices", "pay"): _invoice_action("pay"),
    ("invoices", "void"): _invoice_action("void"),
    ("invoices", "mark_uncollectible"): _invoice_action("mark_uncollectible"),
    ("subscriptions", "resume"): resume_subscription,
    ("subscriptions", "cancel"): cancel_subscription,
    ("credit_notes", "void"): void_credit_note,
    ("disputes", "close"): close_dispute,
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    ("subscription_schedules", "cancel"): cancel_subscription_schedule,
    ("subscription_schedules", "release"): release_subscription_schedule,
    # payments: intents, checkout, setup, radar, platform money movements
    ("payment_intents", "confirm"): confirm_payment_intent,
    ("payment_intents", "cancel"): cancel_payment_intent,
    ("checkout/sessions", "expire"): expire_checkout_session,
    ("setup_intents", "confirm"): confirm_setup_intent,
    ("setup_intents", "cancel"): cancel_setup_intent,
    ("payment_methods", "attach"): customer_children.attach_handler,
    ("payment_methods", "detach"): customer_children.detach_handler,
    ("reviews", "approve"): approve_review,
    ("billing/meters", "deactivate"): _meter_status("inactive"),
    ("billing/meters", "reactivate"): _meter_status("active"),
    ("quotes", "finalize"): _quote_action("finalize"),
    ("quotes", "accept"): _quote_action("accept"),
    ("quotes", "cancel"): _quote_action("cancel"),
    ("billing/credit_grants", "expire"): _credit_grant_action("expire"),
    ("billing/credit_grants", "void"): _credit_grant_action("void"),
}
