"""Products, prices (and their legacy `plan` view), coupons, promotion codes, tax rates,
shipping rates and discounts."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, from_template, template


def product(
    id: str, name: str, created: int, *, description: str | None = None, metadata: Obj | None = None
) -> Obj:
    return from_template(
        "product",
        id=id,
        name=name,
        created=created,
        updated=created,
        default_price=None,
        description=description,
        images=[],
        marketing_features=[],
        metadata=metadata or {},
        url=None,
        shippable=None,
        statement_descriptor=None,
        unit_label=None,
        tax_code=None,
    )


def price(
    id: str,
    product_id: str,
    currency: str,
    unit_amount: int,
    created: int,
    *,
    interval: str | None = None,
    interval_count: int = 1,
    nickname: str | None = None,
    lookup_key: str | None = None,
    meter: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A price; recurring ones bill a quantity per period, or, given a `meter`, the usage that
    meter recorded over the period (`usage_type` metered, `unit_amount` per unit of usage)."""
    recurring = None
    if interval is not None:
        recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": meter,
            "trial_period_days": None,
            "usage_type": "licensed" if meter is None else "metered",
        }
    return from_template(
        "price",
        id=id,
        product=product_id,
        currency=currency,
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
        created=created,
        recurring=recurring,
        type="recurring" if recurring else "one_time",
        nickname=nickname,
        lookup_key=lookup_key,
        metadata=metadata or {},
        tax_behavior="exclusive",
        active=True,
    )


def plan_of(price_obj: Obj) -> Obj | None:
    """The legacy `plan` view of a recurring price (still carried by subscription items)."""
    recurring = price_obj.get("recurring")
    if not recurring:
        return None
    return from_template(
        "plan",
        id=price_obj["id"],
        active=price_obj["active"],
        amount=price_obj["unit_amount"],
        amount_decimal=price_obj["unit_amount_decimal"],
        created=price_obj["created"],
        currency=price_obj["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
        metadata=price_obj["metadata"],
        nickname=price_obj["nickname"],
        product=price_obj["product"],
        meter=recurring["meter"],
        usage_type=recurring["usage_type"],
        trial_period_days=None,
    )


def coupon(
    id: str,
    created: int,
    *,
    duration: str,
    percent_off: float | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    duration_in_months: int | None = None,
    name: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    return from_template(
        "coupon",
        id=id,
        created=created,
        duration=duration,
        duration_in_months=duration_in_months if duration == "repeating" else None,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency if amount_off is not None else None,
        name=name,
        metadata=metadata or {},
        times_redeemed=0,
        valid=True,
    )


def tax_rate(
    id: str,
    created: int,
    *,
    percentage: float,
    country: str | None,
    display_name: str,
    inclusive: bool = False,
    description: str | None = None,
    jurisdiction: str | None = None,
    tax_type: str | None = None,
    active: bool = True,
    metadata: Obj | None = None,
) -> Obj:
    if tax_type is None and display_name in ("VAT", "JCT"):
        tax_type = display_name.lower()
    return from_template(
        "tax_rate",
        id=id,
        active=active,
        created=created,
        percentage=percentage,
        effective_percentage=percentage,
        country=country,
        jurisdiction=jurisdiction if jurisdiction is not None else country,
        description=description if description is not None else f"{display_name} {country}",
        display_name=display_name,
        inclusive=inclusive,
        tax_type=tax_type,
        metadata=metadata or {},
    )


def discount(
    id: str,
    coupon_id: str,
    start: int,
    end: int | None,
    *,
    customer: str | None,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice: str | None = None,
    invoice_item: str | None = None,
    promotion_code: str | None = None,
) -> Obj:
    return from_template(
        "discount",
        id=id,
        source={"coupon": coupon_id, "type": "coupon"},
        start=start,
        end=end,
        customer=customer,
        subscription=subscription,
        subscription_item=subscription_item,
        invoice=invoice,
        invoice_item=invoice_item,
        checkout_session=None,
        promotion_code=promotion_code,
    )


def deleted_discount(found: Obj) -> Obj:
    """Stripe's answer to removing a discount: the discount's fields without `end`, and
    `deleted` (Stripe's `deleted_discount`)."""
    fields = {key: value for key, value in found.items() if key != "end"}
    return {"deleted": True, **fields}


def promotion_code(
    id: str,
    code: str,
    coupon_id: str,
    created: int,
    *,
    customer: str | None = None,
    expires_at: int | None = None,
    max_redemptions: int | None = None,
    first_time_transaction: bool = False,
    minimum_amount: int | None = None,
    minimum_amount_currency: str | None = None,
    active: bool = True,
    metadata: Obj | None = None,
) -> Obj:
    """A customer-facing code for a coupon (what a customer types at checkout)."""
    return from_template(
        "promotion_code",
        id=id,
        code=code,
        promotion={"coupon": coupon_id, "type": "coupon"},
        created=created,
        customer=customer,
        expires_at=expires_at,
        max_redemptions=max_redemptions,
        restrictions={
            "first_time_transaction": first_time_transaction,
            "minimum_amount": minimum_amount,
            "minimum_amount_currency": minimum_amount_currency if minimum_amount else None,
        },
        active=active,
        metadata=metadata or {},
        times_redeemed=0,
    )


def shipping_rate(
    id: str,
    created: int,
    *,
    display_name: str,
    amount: int,
    currency: str,
    days: tuple[int, int] | None = None,
    active: bool = True,
    tax_behavior: str = "exclusive",
    metadata: Obj | None = None,
) -> Obj:
    """A fixed shipping price, with its delivery estimate in business days."""
    estimate = None
    if days is not None:
        estimate = {
            "maximum": {"unit": "business_day", "value": days[1]},
            "minimum": {"unit": "business_day", "value": days[0]},
        }
    return from_template(
        "shipping_rate",
        id=id,
        created=created,
        active=active,
        display_name=display_name,
        fixed_amount={"amount": amount, "currency": currency},
        delivery_estimate=estimate,
        tax_behavior=tax_behavior,
        tax_code=None,
        type="fixed_amount",
        metadata=metadata or {},
    )


def billing_meter(
    id: str,
    created: int,
    *,
    display_name: str,
    event_name: str,
    formula: str = "sum",
    customer_key: str = "stripe_customer_id",
    value_key: str = "value",
) -> Obj:
    """An active meter: usage events named `event_name`, aggregated by `formula` per customer,
    that a metered price bills."""
    return from_template(
        "billing.meter",
        id=id,
        created=created,
        updated=created,
        livemode=False,
        display_name=display_name,
        event_name=event_name,
        event_time_window=None,
        status="active",
        status_transitions={"deactivated_at": None},
        customer_mapping={"event_payload_key": customer_key, "type": "by_id"},
        default_aggregation={"formula": formula},
        value_settings={"event_payload_key": value_key},
    )


def entitlement_feature(
    id: str, *, name: str, lookup_key: str, active: bool = True, metadata: Obj | None = None
) -> Obj:
    """A feature a product can grant (`lookup_key` is what the application checks)."""
    return from_template(
        "entitlements.feature",
        id=id,
        name=name,
        lookup_key=lookup_key,
        active=active,
        livemode=False,
        metadata=metadata or {},
    )


def payment_link(
    id: str, *, currency: str, active: bool = True, metadata: Obj | None = None
) -> Obj:
    """A shareable checkout page selling fixed line items (Stripe's payment links carry no
    `created`: their list is ordered and paged by id alone)."""
    return from_template(
        "payment_link",
        id=id,
        active=active,
        currency=currency,
        livemode=False,
        metadata=metadata or {},
        # each link its own page: the example's address with the link's id as its last part
        url=f"{template('payment_link')['url'].rsplit('/', 1)[0]}/{id}",
    )
