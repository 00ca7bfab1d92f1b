"""The Stripe tables we sync, described once.

Everything that differs between tables lives in this registry: the list endpoint, the field
holding each object's creation time (partitions and `created[...]` filters follow it; invoice
items call it `date`), the filters a complete listing needs, the embedded child list and its own endpoint, the restricted-key permission
and the event types that touch the table. The asset factory, the sensors, the webhook
registration and the sandbox all read it, so a new table is one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChildTable:
    """Objects that belong to a parent object and have their own list endpoint per parent.

    Most are embedded in the parent (at most 10 entries inline, `has_more` beyond): invoice
    lines, subscription items. Some are not (a customer's balance transactions, payment
    methods; a setup intent's attempts): those are listed per parent, but only for parents
    whose `listed_for` fields say they can have any, as one request per parent of a big table
    would otherwise cost more than the table itself."""

    name: str  # warehouse table, e.g. "invoice_line_item"
    field: str | None  # the parent's embedded list field ("lines"); None: not embedded
    path: str  # endpoint listing all children, "{id}" is the parent id
    # Query parameters the child endpoint is asked with, and the parent field each takes
    # ("id": the parent's id), when the path does not name the parent.
    parent_params: tuple[tuple[str, str], ...] = ()
    parent_column: str = "parent_id"  # column of the child table holding the parent's id
    expand: tuple[str, ...] = ()  # object paths to expand on the child endpoint
    # Not embedded: parent fields (dotted paths) of which one must be set (not null, not zero,
    # not empty) for the parent to have children worth a request.
    listed_for: tuple[str, ...] = ()
    permission: str | None = None  # when reading it takes another permission than the parent

    @property
    def embedded(self) -> bool:
        return self.field is not None

    def may_have_children(self, parent: Mapping[str, Any]) -> bool:
        """Whether a parent's payload says it may have children that it does not carry
        itself, i.e. whether its child endpoint is worth a request."""
        return not self.embedded and any(is_set(value_at(parent, path)) for path in self.listed_for)

    def query(self, parent_id: str, parent: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters naming the parent on its child endpoint."""
        return {
            param: parent_id if field == "id" else value_at(parent, field)
            for param, field in self.parent_params
        }


def value_at(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a payload, or of the fields a list page was read for
    (keyed by dotted path); None where a step is missing."""
    if path in obj:
        return obj[path]
    value: Any = obj
    for step in path.split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def is_set(value: Any) -> bool:
    """A field holds something: not null, not zero, not empty (a balance of 0, no attempt)."""
    return value not in (None, 0, "", [], {}) and value is not False


@dataclass(frozen=True)
class StripeTable:
    """One Stripe object type synced into `stripe.<name>`."""

    name: str  # warehouse table name: Stripe's object name, without its namespace's dot
    path: str | None  # list endpoint; None: Stripe cannot list it (`events_only`)
    permission: str  # restricted-key permission that allows reading it
    description: str
    list_params: dict[str, str] = field(default_factory=dict)  # always sent when listing
    children: tuple[ChildTable, ...] = ()
    event_types: tuple[str, ...] = ()  # webhook event types whose payload is this object
    retention_days: int | None = None  # Stripe drops older objects: absence is not deletion
    # The object's creation time, which `created[...]` list filters apply to and partitions
    # are cut by. Read it through `created_of`, never as `obj["created"]`. None: it has none.
    created_field: str | None = "created"
    # Its name in payloads of older API versions (events keep the version they were made with).
    legacy_created_field: str | None = None
    # Object paths to expand. Discounts are only ids in current payloads and Stripe cannot list
    # them: expanded, they tell which coupon each discount applied (revenue_item's coupon).
    expand: tuple[str, ...] = ()
    # Stripe's `object` of its payloads when it is not the table's name: the warehouse names
    # tables without dots, Stripe names namespaced objects with one (`checkout.session`).
    object_name: str | None = None
    # Stripe's list takes no `created[...]` filter (billing meters): the table is listed whole
    # on every run, has no monthly partitions, and its events belong to no month.
    full_refresh: bool = False
    # Stripe has no list endpoint for the object (discounts): the table is never listed. It is
    # rebuilt from its events' payloads in `stripe.event` and kept current by the events, so it
    # holds what the event history holds (Stripe keeps 30 days). Unpartitioned, like the full
    # refreshes: its events belong to no month.
    events_only: bool = False

    @property
    def object(self) -> str:
        """The `object` field of this table's payloads."""
        return self.object_name or self.name

    def list_expand(self) -> dict[str, list[str]]:
        """The `expand` parameter of a list call (paths under `data.`)."""
        return {"expand": [f"data.{path}" for path in self.expand]} if self.expand else {}

    def created_of(self, obj: Mapping[str, Any]) -> int | None:
        """When `obj` (a payload of this table) was created, as a Unix time; None if it does not
        say (a partial payload)."""
        value = obj.get(self.created_field) if self.created_field else None
        if value is None and self.legacy_created_field:
            value = obj.get(self.legacy_created_field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value)

    @property
    def unpartitioned(self) -> bool:
        """No monthly partitions: listed whole (full refresh) or never listed (events only)."""
        return self.full_refresh or self.events_only

    @property
    def child_names(self) -> tuple[str, ...]:
        return tuple(child.name for child in self.children)


TABLES: tuple[StripeTable, ...] = (
    StripeTable(
        name="charge",
        path="/v1/charges",
        permission="rak_charge_read",
        description="Charges: every attempt to move money from a customer's payment method.",
        event_types=(
            "charge.succeeded",
            "charge.failed",
            "charge.refunded",
            "charge.captured",
            "charge.updated",
            "charge.pending",
            "charge.expired",
        ),
    ),
    StripeTable(
        name="customer",
        path="/v1/customers",
        permission="rak_customer_read",
        description="Customers. Deleted customers vanish from lists; their rows are kept with `_deleted`.",
        children=(
            # Stripe writes a balance transaction whenever a customer's credit balance moves;
            # a customer whose balance is back at zero may have some, but listing every
            # customer to find them would cost a request each (the hosted sources do the same).
            ChildTable(
                name="customer_balance_transaction",
                field=None,
                path="/v1/customers/{id}/balance_transactions",
                parent_column="customer_id",
                listed_for=("balance",),
            ),
            ChildTable(
                name="payment_method",
                field=None,
                path="/v1/customers/{id}/payment_methods",
                parent_column="customer_id",
                listed_for=("invoice_settings.default_payment_method", "default_source"),
                permission="rak_payment_method_read",
            ),
        ),
        event_types=("customer.created", "customer.updated", "customer.deleted"),
    ),
    StripeTable(
        name="invoice",
        path="/v1/invoices",
        permission="rak_invoice_read",
        description="Invoices, with their complete line items in `stripe.invoice_line_item`.",
        children=(
            ChildTable(
                name="invoice_line_item",
                field="lines",
                path="/v1/invoices/{id}/lines",
                parent_column="invoice_id",
                expand=("data.discounts",),
            ),
        ),
        expand=("discounts", "lines.data.discounts"),
        legacy_created_field="date",  # renamed `created` in API version 2019-03-14
        event_types=(
            "invoice.created",
            "invoice.finalized",
            "invoice.updated",
            "invoice.paid",
            "invoice.payment_succeeded",
            "invoice.payment_failed",
            "invoice.voided",
            "invoice.marked_uncollectible",
            "invoice.deleted",
        ),
    ),
    StripeTable(
        name="invoice_payment",
        path="/v1/invoice_payments",
        permission="rak_invoice_read",
        description="Invoice payments: which payment (intent or charge) paid which invoice.",
        event_types=("invoice_payment.paid",),
    ),
    StripeTable(
        name="price",
        path="/v1/prices",
        permission="rak_plan_read",
        description="Prices (recurring and one-off). Deleted prices are kept with `_deleted`.",
        event_types=("price.created", "price.updated", "price.deleted"),
    ),
    StripeTable(
        name="product",
        path="/v1/products",
        permission="rak_product_read",
        description="Products. Deleted products are kept with `_deleted`.",
        event_types=("product.created", "product.updated", "product.deleted"),
    ),
    StripeTable(
        name="subscription",
        path="/v1/subscriptions",
        permission="rak_subscription_read",
        description="Subscriptions of every status (listed with `status=all`), items in `stripe.subscription_item`.",
        list_params={"status": "all"},
        children=(
            ChildTable(
                name="subscription_item",
                field="items",
                path="/v1/subscription_items",
                parent_params=(("subscription", "id"),),
                parent_column="subscription_id",
                expand=("data.discounts",),
            ),
        ),
        expand=("discounts", "items.data.discounts"),
        event_types=(
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "customer.subscription.paused",
            "customer.subscription.resumed",
            "customer.subscription.trial_will_end",
        ),
    ),
    StripeTable(
        name="balance_transaction",
        path="/v1/balance_transactions",
        permission="rak_balance_read",
        description="Balance transactions: what each charge, refund, dispute and payout did to the balance, fees included.",
    ),
    StripeTable(
        name="dispute",
        path="/v1/disputes",
        permission="rak_dispute_read",
        description="Disputes (chargebacks) on charges.",
        event_types=(
            "charge.dispute.created",
            "charge.dispute.updated",
            "charge.dispute.closed",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.funds_reinstated",
        ),
    ),
    StripeTable(
        name="payout",
        path="/v1/payouts",
        permission="rak_payout_read",
        description="Payouts from the Stripe balance to the bank account.",
        event_types=(
            "payout.created",
            "payout.updated",
            "payout.paid",
            "payout.failed",
            "payout.canceled",
        ),
    ),
    StripeTable(
        name="credit_note",
        path="/v1/credit_notes",
        permission="rak_credit_note_read",
        description="Credit notes, with their complete lines in `stripe.credit_note_line_item`.",
        children=(
            ChildTable(
                name="credit_note_line_item",
                field="lines",
                path="/v1/credit_notes/{id}/lines",
                parent_column="credit_note_id",
            ),
        ),
        event_types=("credit_note.created", "credit_note.updated", "credit_note.voided"),
    ),
    StripeTable(
        name="refund",
        path="/v1/refunds",
        permission="rak_refund_read",
        description="Refunds of charges, full and partial.",
        event_types=("refund.created", "refund.updated", "refund.failed", "charge.refund.updated"),
    ),
    StripeTable(
        name="invoiceitem",
        path="/v1/invoiceitems",
        permission="rak_invoice_read",
        description="Invoice items: one-off amounts and prorations added to a customer's next invoice.",
        event_types=("invoiceitem.created", "invoiceitem.deleted"),
        created_field="date",  # invoice items have no `created`
    ),
    StripeTable(
        name="coupon",
        path="/v1/coupons",
        permission="rak_coupon_read",
        description="Coupons (percent or amount off; once, repeating or forever). Deleted coupons are kept with `_deleted`.",
        event_types=("coupon.created", "coupon.updated", "coupon.deleted"),
    ),
    StripeTable(
        name="event",
        path="/v1/events",
        permission="rak_event_read",
        description="The raw event history: every change Stripe reported, as listed or delivered (Stripe keeps 30 days).",
        retention_days=30,
    ),
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    StripeTable(
        name="tax_rate",
        path="/v1/tax_rates",
        permission="rak_tax_rate_read",
        description="Tax rates (percentages by jurisdiction) that invoices and subscriptions apply.",
        event_types=("tax_rate.created", "tax_rate.updated"),
    ),
    StripeTable(
        name="plan",
        path="/v1/plans",
        permission="rak_plan_read",
        description="Plans: the older view of every recurring price (same id). Deleted plans are kept with `_deleted`.",
        event_types=("plan.created", "plan.updated", "plan.deleted"),
    ),
    StripeTable(
        name="promotion_code",
        path="/v1/promotion_codes",
        permission="rak_promotion_code_read",
        description="Promotion codes: the codes customers type for a coupon; a discount names the code it came from.",
        event_types=("promotion_code.created", "promotion_code.updated"),
    ),
    StripeTable(
        name="subscription_schedule",
        path="/v1/subscription_schedules",
        permission="rak_subscription_read",
        description="Subscription schedules: downgrades and cancellations booked for a subscription's future, as phases.",
        event_types=(
            "subscription_schedule.created",
            "subscription_schedule.updated",
            "subscription_schedule.canceled",
            "subscription_schedule.released",
            "subscription_schedule.completed",
            "subscription_schedule.aborted",
            "subscription_schedule.expiring",
        ),
    ),
    StripeTable(
        name="shipping_rate",
        path="/v1/shipping_rates",
        permission="rak_shipping_rate_read",
        description="Shipping rates (fixed amounts with delivery estimates). Stripe sends no event for them: kept current by listing.",
    ),
    # -- payments: intents, checkout, setup, radar, platform money movements ----------------
    StripeTable(
        name="payment_intent",
        path="/v1/payment_intents",
        permission="rak_payment_intent_read",
        description="Payment intents: every attempt to collect a payment, including those declined or abandoned that never moved money.",
        event_types=(
            "payment_intent.created",
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "payment_intent.canceled",
            "payment_intent.processing",
            "payment_intent.requires_action",
            "payment_intent.amount_capturable_updated",
            "payment_intent.partially_funded",
        ),
    ),
    StripeTable(
        name="checkout_session",
        object_name="checkout.session",
        path="/v1/checkout/sessions",
        permission="rak_checkout_session_read",
        description="Checkout sessions: hosted payment pages, completed or abandoned (expired).",
        event_types=(
            "checkout.session.completed",
            "checkout.session.expired",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
        ),
    ),
    StripeTable(
        name="setup_intent",
        path="/v1/setup_intents",
        permission="rak_setup_intent_read",
        description="Setup intents: cards saved for later payments, including those declined.",
        children=(
            ChildTable(
                name="setup_attempt",
                field=None,
                path="/v1/setup_attempts",
                parent_params=(("setup_intent", "id"),),
                parent_column="setup_intent_id",
                listed_for=("latest_attempt",),
            ),
        ),
        event_types=(
            "setup_intent.created",
            "setup_intent.succeeded",
            "setup_intent.setup_failed",
            "setup_intent.canceled",
            "setup_intent.requires_action",
        ),
    ),
    StripeTable(
        name="review",
        path="/v1/reviews",
        permission="rak_review_read",
        description="Radar reviews: payments a rule held for a look, approved or refunded.",
        event_types=("review.opened", "review.closed"),
    ),
    StripeTable(
        name="early_fraud_warning",
        object_name="radar.early_fraud_warning",
        path="/v1/radar/early_fraud_warnings",
        # Not confirmed: Stripe publishes no scope name for this endpoint that we could check;
        # this one follows its pattern for namespaced resources (`rak_checkout_session_read`).
        # A 403 names Stripe's real one, and that is what a failed run reports.
        permission="rak_radar_early_fraud_warning_read",
        description="Early fraud warnings: card issuers' fraud reports on charges, before any chargeback.",
        event_types=("radar.early_fraud_warning.created", "radar.early_fraud_warning.updated"),
    ),
    StripeTable(
        name="transfer",
        path="/v1/transfers",
        permission="rak_transfer_read",
        description="Transfers: funds the platform sent from its balance to connected accounts.",
        event_types=("transfer.created", "transfer.updated", "transfer.reversed"),
    ),
    StripeTable(
        name="application_fee",
        path="/v1/application_fees",
        permission="rak_application_fee_read",
        description="Application fees: the platform's cut of its connected accounts' charges.",
        event_types=("application_fee.created", "application_fee.refunded"),
    ),
    StripeTable(
        name="topup",
        path="/v1/topups",
        permission="rak_top_up_read",
        description="Top-ups: funds added to the platform's balance from its bank account.",
        event_types=(
            "topup.created",
            "topup.succeeded",
            "topup.failed",
            "topup.canceled",
            "topup.reversed",
        ),
    ),
    # -- full refreshes: lists without a creation-time filter, listed whole -----------------
    StripeTable(
        name="billing_meter",
        object_name="billing.meter",
        path="/v1/billing/meters",
        permission="rak_billing_meter_read",
        description="Billing meters: the usage events metered prices are billed by (active or deactivated).",
        full_refresh=True,
        event_types=(
            "billing.meter.created",
            "billing.meter.updated",
            "billing.meter.deactivated",
            "billing.meter.reactivated",
        ),
    ),
    StripeTable(
        name="payment_link",
        path="/v1/payment_links",
        permission="rak_payment_links_read",
        description="Payment links: shareable checkout pages selling fixed line items, live or switched off.",
        full_refresh=True,
        created_field=None,  # payment links carry no creation time
        event_types=("payment_link.created", "payment_link.updated"),
    ),
    StripeTable(
        name="entitlement_feature",
        object_name="entitlements.feature",
        path="/v1/entitlements/features",
        permission="rak_entitlement_read",
        description="Entitlement features: what a product grants its customers. Stripe sends no event for them: kept current by listing.",
        full_refresh=True,
        created_field=None,  # features carry no creation time
    ),
    StripeTable(
        name="quote",
        path="/v1/quotes",
        permission="rak_quote_read",
        description="Quotes: prices offered to a customer before a sale, drafted, sent (open), accepted or canceled. Their line items are not synced.",
        full_refresh=True,
        # Not `quote.will_expire` (the dashboard's expiry reminder): the pinned API version's
        # spec knows no such type, as an event's or among a webhook endpoint's
        # `enabled_events`, and registering our endpoint with it could have it refused.
        event_types=("quote.created", "quote.finalized", "quote.accepted", "quote.canceled"),
    ),
    StripeTable(
        name="credit_grant",
        object_name="billing.credit_grant",
        path="/v1/billing/credit_grants",
        # Not confirmed: Stripe publishes no scope name for credit grants that we could check;
        # this one follows its pattern for namespaced resources (`rak_billing_meter_read`).
        # A 403 names Stripe's real one, and that is what a failed run reports.
        permission="rak_billing_credit_grant_read",
        description="Credit grants: billing credits given or sold to a customer, spent on metered usage, until they expire or are voided.",
        full_refresh=True,
        children=(
            # Stripe lists them per customer (required), optionally per grant: asked per grant,
            # each transaction belongs to one, and every grant has at least its credit.
            ChildTable(
                name="credit_balance_transaction",
                field=None,
                path="/v1/billing/credit_balance_transactions",
                parent_params=(("customer", "customer"), ("credit_grant", "id")),
                parent_column="credit_grant_id",
                listed_for=("customer",),
            ),
        ),
        event_types=("billing.credit_grant.created", "billing.credit_grant.updated"),
    ),
    # -- events only: objects Stripe cannot list, kept from their events ---------------------
    StripeTable(
        name="discount",
        path=None,  # Stripe has no list (nor retrieve) endpoint for discounts
        # Read from the event history: reading discounts takes what reading events takes.
        permission="rak_event_read",
        description=(
            "Discounts: a coupon or promotion code applied to a customer or a subscription "
            "(its `coupon`, `start` and `end`). Removed discounts are kept with `_deleted`."
        ),
        events_only=True,
        created_field=None,  # a discount has `start`, no creation time
        event_types=(
            "customer.discount.created",
            "customer.discount.updated",
            "customer.discount.deleted",
        ),
    ),
)

TABLES_BY_NAME: dict[str, StripeTable] = {table.name: table for table in TABLES}

CHILD_TABLES: dict[str, tuple[StripeTable, ChildTable]] = {
    child.name: (table, child) for table in TABLES for child in table.children
}

ALL_TABLE_NAMES: tuple[str, ...] = tuple(
    name for table in TABLES for name in (table.name, *table.child_names)
)


# Every restricted-key permission a full sync needs (a key with all of them reads everything).
PERMISSIONS: tuple[str, ...] = tuple(
    sorted(
        {table.permission for table in TABLES}
        | {child.permission for table in TABLES for child in table.children if child.permission}
    )
)


PARTITIONED_TABLES: tuple[StripeTable, ...] = tuple(t for t in TABLES if not t.unpartitioned)
FULL_REFRESH_TABLES: tuple[StripeTable, ...] = tuple(t for t in TABLES if t.full_refresh)
EVENTS_ONLY_TABLES: tuple[StripeTable, ...] = tuple(t for t in TABLES if t.events_only)


TABLES_BY_OBJECT: dict[str, StripeTable] = {table.object: table for table in TABLES}


def table_for_object(object_name: str) -> StripeTable | None:
    """The synced table holding objects whose `object` field is `object_name`."""
    return TABLES_BY_OBJECT.get(object_name)
