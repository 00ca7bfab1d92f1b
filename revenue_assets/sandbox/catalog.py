"""The generated company's catalog: products, prices, coupons, promotion codes, tax rates and
shipping rates (for the hardware security keys it sells).

Chosen to exercise what a revenue warehouse must get right: monthly, annual, weekly and
multi-month (`interval_count` > 1) prices; five currencies including JPY (zero-decimal) and KWD
(three-decimal); percent and amount coupons of every duration; exclusive VAT; a product, a price
and a coupon that get deleted; a dozen small add-ons so that some invoices exceed 10 lines; a
metered price, billed by a usage meter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revenue_assets.sandbox import money, shapes
from revenue_assets.sandbox.ids import Ids

Obj = dict[str, Any]

CURRENCIES = ("usd", "eur", "gbp", "jpy", "kwd")

# tier -> (monthly price in USD cents, intervals offered beyond month/year)
TIERS: dict[str, int] = {"Starter": 1_900, "Pro": 4_900, "Business": 19_900, "Enterprise": 99_900}

CONNECTORS = (
    "Salesforce",
    "HubSpot",
    "Slack",
    "Zendesk",
    "Intercom",
    "Jira",
    "GitHub",
    "Snowflake",
    "BigQuery",
    "Segment",
    "Shopify",
    "Notion",
)

COUNTRIES: tuple[tuple[str, str, int], ...] = (
    # country, currency, weight
    ("US", "usd", 50),
    ("CA", "usd", 6),
    ("AU", "usd", 5),
    ("GB", "gbp", 10),
    ("DE", "eur", 10),
    ("FR", "eur", 7),
    ("JP", "jpy", 8),
    ("KW", "kwd", 4),
)

TAXED: dict[str, tuple[str, float]] = {
    "GB": ("VAT", 20.0),
    "DE": ("VAT", 19.0),
    "FR": ("VAT", 20.0),
    "JP": ("JCT", 10.0),
}


# coupon code -> (promotion code, first-time customers only, active)
PROMOTION_CODES: dict[str, tuple[str, bool, bool]] = {
    "WELCOME20": ("WELCOME", True, True),
    "HALFOFF3": ("HALFOFF", False, True),
    "PARTNER10": ("PARTNER", False, True),
    "TENOFF": ("SUMMER10", False, False),
}


# display name, USD cents, delivery estimate in business days, active
SHIPPING_RATES: tuple[tuple[str, int, tuple[int, int], bool], ...] = (
    ("Standard shipping", 500, (5, 7), True),
    ("Express shipping", 1_500, (1, 2), True),
    ("Ground (retired)", 300, (7, 12), False),
)

# (display name, event name, aggregation formula, active) of the usage meters; the first one
# bills the metered API price.
METERS: tuple[tuple[str, str, str, bool], ...] = (
    ("API requests", "api_request", "sum", True),
    ("Webhook deliveries", "webhook_delivery", "count", True),
    ("Legacy sync minutes", "legacy_sync_minute", "sum", False),
)

# (name, lookup key, active) of the entitlement features.
FEATURES: tuple[tuple[str, str, bool], ...] = (
    ("Single sign-on", "sso", True),
    ("Audit log", "audit_log", True),
    ("Priority support", "priority_support", True),
    ("Legacy exports", "legacy_exports", False),
)


@dataclass
class Catalog:
    """Every catalog object by id, plus the lookups the customer stories need."""

    objects: dict[str, Obj] = field(default_factory=dict)
    # tier -> currency -> (interval, interval_count) -> price
    plans: dict[str, dict[str, dict[tuple[str, int], Obj]]] = field(default_factory=dict)
    seats: dict[str, Obj] = field(default_factory=dict)  # currency -> per-seat monthly price
    sms: dict[str, Obj] = field(default_factory=dict)  # currency -> weekly price
    support: Obj | None = None  # every-6-months USD price
    connectors: list[Obj] = field(default_factory=list)  # monthly USD prices
    legacy: Obj | None = None  # monthly USD price of the deleted legacy product
    one_time: dict[str, dict[str, Obj]] = field(default_factory=dict)  # name -> currency -> price
    coupons: dict[str, Obj] = field(default_factory=dict)
    # coupon code -> the active promotion code customers type for it (some coupons have none)
    promotion_codes: dict[str, Obj] = field(default_factory=dict)
    tax_rates: dict[str, Obj] = field(default_factory=dict)  # country -> tax rate
    shipping_rates: list[Obj] = field(default_factory=list)
    meters: list[Obj] = field(default_factory=list)  # usage meters (billing.meter)
    metered: Obj | None = None  # the monthly USD price of API requests, billed by meter
    payment_links: list[Obj] = field(default_factory=list)
    features: list[Obj] = field(default_factory=list)  # entitlement features
    # (id, when) deletions applied at the end of generation (the objects vanish from lists)
    deletions: list[tuple[str, int]] = field(default_factory=list)

    def add(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def plan_for(self, tier: str, currency: str, interval: tuple[str, int]) -> Obj | None:
        return self.plans.get(tier, {}).get(currency, {}).get(interval)


def build(seed: int, start: int, *, stream: str = "catalog", coupon_suffix: str = "") -> Catalog:
    """The catalog, created a few days before the first customer signs up.

    Each account has its own (connected accounts too): `stream` keeps their ids apart and
    `coupon_suffix` their coupon codes, since the store's ids are unique across accounts.
    """
    ids = Ids.for_stream(seed, stream)
    catalog = Catalog()
    created = start - 10 * money.DAY

    def new_product(name: str, description: str | None = None) -> Obj:
        return catalog.add(shapes.product(ids.new("prod"), name, created, description=description))

    def new_price(
        product: Obj,
        currency: str,
        usd_cents: int,
        interval: str | None,
        count: int = 1,
        nickname: str | None = None,
        meter: str | None = None,
    ) -> Obj:
        obj = shapes.price(
            ids.new("price"),
            product["id"],
            currency,
            money.from_usd_cents(usd_cents, currency),
            created,
            interval=interval,
            interval_count=count,
            nickname=nickname,
            meter=meter,
        )
        if product["default_price"] is None:
            product["default_price"] = obj["id"]
        return catalog.add(obj)

    for tier, monthly in TIERS.items():
        product = new_product(tier, f"The {tier} plan")
        by_currency: dict[str, dict[tuple[str, int], Obj]] = {}
        for currency in CURRENCIES:
            prices = by_currency.setdefault(currency, {})
            prices[("month", 1)] = new_price(
                product, currency, monthly, "month", 1, f"{tier} monthly"
            )
            prices[("year", 1)] = new_price(
                product, currency, monthly * 10, "year", 1, f"{tier} yearly"
            )
            if tier == "Business" and currency in ("usd", "eur"):
                prices[("month", 3)] = new_price(
                    product, currency, monthly * 3 - 3_000, "month", 3, f"{tier} quarterly"
                )
        catalog.plans[tier] = by_currency

    seats = new_product("Extra seats", "Per-seat add-on")
    for currency in CURRENCIES:
        catalog.seats[currency] = new_price(seats, currency, 1_000, "month", 1, "Seat")
    sms = new_product("SMS pack", "Weekly SMS bundle")
    for currency in ("usd", "eur"):
        catalog.sms[currency] = new_price(sms, currency, 500, "week", 1, "SMS weekly")
    support = new_product("Priority support", "Six-monthly priority support")
    catalog.support = new_price(support, "usd", 30_000, "month", 6, "Support semi-annual")
    for name in CONNECTORS:
        product = new_product(f"Connector: {name}")
        catalog.connectors.append(new_price(product, "usd", 500, "month", 1, name))
    legacy = new_product("Basic (legacy)", "Retired plan")
    catalog.legacy = new_price(legacy, "usd", 900, "month", 1, "Basic monthly")
    catalog.deletions.append((catalog.legacy["id"], start + 200 * money.DAY))
    catalog.deletions.append((legacy["id"], start + 201 * money.DAY))

    onboarding = new_product("Onboarding", "One-time onboarding package")
    consulting = new_product("Consulting hour")
    catalog.one_time["onboarding"] = {
        currency: new_price(onboarding, currency, 50_000, None) for currency in CURRENCIES
    }
    catalog.one_time["consulting"] = {
        currency: new_price(consulting, currency, 15_000, None) for currency in CURRENCIES
    }

    def new_coupon(code: str, **kwargs: Any) -> Obj:
        coupon = shapes.coupon(code + coupon_suffix, created, **kwargs)
        return catalog.coupons.setdefault(code, catalog.add(coupon))

    new_coupon("WELCOME20", duration="once", percent_off=20.0, name="Welcome 20% off")
    new_coupon(
        "HALFOFF3",
        duration="repeating",
        duration_in_months=3,
        percent_off=50.0,
        name="50% off 3 months",
    )
    new_coupon("PARTNER10", duration="forever", percent_off=10.0, name="Partner 10%")
    new_coupon("TENOFF", duration="once", amount_off=1_000, currency="usd", name="$10 off")
    new_coupon("FIVEOFF", duration="forever", amount_off=500, currency="usd", name="$5 off forever")
    new_coupon(
        "EUR15",
        duration="repeating",
        duration_in_months=12,
        amount_off=1_500,
        currency="eur",
        name="€15 off for a year",
    )
    new_coupon(
        "LAUNCH30", duration="repeating", duration_in_months=6, percent_off=30.0, name="Launch 30%"
    )
    catalog.deletions.append(("LAUNCH30" + coupon_suffix, start + 365 * money.DAY))

    # Codes customers type at checkout: the welcome offer for first purchases only, and a
    # summer campaign that was switched off (its code stays listed, inactive).
    for coupon_code, (code, first_time, active) in PROMOTION_CODES.items():
        promotion_code = shapes.promotion_code(
            ids.new("promo"),
            code,
            catalog.coupons[coupon_code]["id"],
            created,
            first_time_transaction=first_time,
            active=active,
        )
        catalog.add(promotion_code)
        if active:
            catalog.promotion_codes[coupon_code] = promotion_code

    for country, (name, percentage) in TAXED.items():
        catalog.tax_rates[country] = catalog.add(
            shapes.tax_rate(
                ids.new("txr"), created, percentage=percentage, country=country, display_name=name
            )
        )
    # Security keys ship: a standard and an express rate, and a retired one kept inactive.
    for display_name, usd_cents, days, active in SHIPPING_RATES:
        catalog.shipping_rates.append(
            catalog.add(
                shapes.shipping_rate(
                    ids.new("shr"),
                    created,
                    display_name=display_name,
                    amount=usd_cents,
                    currency="usd",
                    days=days,
                    active=active,
                )
            )
        )
    # Usage the company meters, and a retired meter, deactivated.
    for display_name, event_name, formula, active in METERS:
        meter = shapes.billing_meter(
            ids.new("mtr"),
            created,
            display_name=display_name,
            event_name=event_name,
            formula=formula,
        )
        if not active:
            meter["status"] = "inactive"
            meter["status_transitions"] = {"deactivated_at": created}
        catalog.meters.append(catalog.add(meter))
    # Links the company shares for one-off purchases: one live, one switched off.
    for active in (True, False):
        link = shapes.payment_link(ids.new("plink"), currency="usd", active=active)
        catalog.payment_links.append(catalog.add(link))
    # What the plans grant, and a feature retired (archived).
    for name, lookup_key, active in FEATURES:
        feature = shapes.entitlement_feature(
            ids.new("feat"), name=name, lookup_key=lookup_key, active=active
        )
        catalog.features.append(catalog.add(feature))
    # API requests billed by usage: a cent each, counted by the requests meter over the month.
    # Made last, so that every id above stays what it was; no customer subscribes to it (yet),
    # but the customers' credit grants are for metered prices like it.
    api = new_product("API usage", "API requests, billed by usage")
    catalog.metered = new_price(
        api, "usd", 1, "month", 1, "API requests", meter=catalog.meters[0]["id"]
    )
    return catalog
