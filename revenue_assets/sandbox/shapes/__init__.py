"""Object builders in the pinned API version, from Stripe's own example objects (fixtures3.json).

One module per domain; `templates` holds the cleaned example objects every builder starts from.
The names are re-exported here so callers write `shapes.charge(...)` without knowing the domain.
"""

from __future__ import annotations

from revenue_assets.sandbox.shapes.billing import (
    credited_lines,
    invoice,
    invoiceitem,
    line_item,
    line_parent_invoice_item,
    line_parent_subscription,
    schedule_phase,
    subscription,
    subscription_item,
    subscription_schedule,
)
from revenue_assets.sandbox.shapes.catalog import (
    billing_meter,
    coupon,
    deleted_discount,
    discount,
    entitlement_feature,
    payment_link,
    plan_of,
    price,
    product,
    promotion_code,
    shipping_rate,
    tax_rate,
)
from revenue_assets.sandbox.shapes.checkout import checkout_session, customer_details
from revenue_assets.sandbox.shapes.connect import application_fee, topup, transfer
from revenue_assets.sandbox.shapes.credit_notes import credit_note, credit_note_line
from revenue_assets.sandbox.shapes.customers import customer
from revenue_assets.sandbox.shapes.payments import (
    balance_transaction,
    card_details,
    charge,
    dispute,
    invoice_payment,
    payment_intent,
    payout,
    refund,
    setup_intent,
)
from revenue_assets.sandbox.shapes.platform import account, event, webhook_endpoint
from revenue_assets.sandbox.shapes.radar import early_fraud_warning, review
from revenue_assets.sandbox.shapes.sales import credit_balance_transaction, credit_grant, quote
from revenue_assets.sandbox.shapes.templates import (
    ACCOUNT_NAME,
    STATEMENT_DESCRIPTOR,
    Obj,
    clone,
    deleted_stub,
    embedded_list,
    fixtures,
    from_template,
    template,
)

__all__ = [
    "ACCOUNT_NAME",
    "STATEMENT_DESCRIPTOR",
    "Obj",
    "account",
    "application_fee",
    "balance_transaction",
    "billing_meter",
    "card_details",
    "charge",
    "checkout_session",
    "clone",
    "coupon",
    "credit_balance_transaction",
    "credit_grant",
    "credit_note",
    "credit_note_line",
    "credited_lines",
    "customer",
    "customer_details",
    "deleted_discount",
    "deleted_stub",
    "discount",
    "dispute",
    "early_fraud_warning",
    "embedded_list",
    "entitlement_feature",
    "event",
    "fixtures",
    "from_template",
    "invoice",
    "invoice_payment",
    "invoiceitem",
    "line_item",
    "line_parent_invoice_item",
    "line_parent_subscription",
    "payment_intent",
    "payment_link",
    "payout",
    "plan_of",
    "price",
    "product",
    "promotion_code",
    "quote",
    "refund",
    "review",
    "schedule_phase",
    "setup_intent",
    "shipping_rate",
    "subscription",
    "subscription_item",
    "subscription_schedule",
    "tax_rate",
    "template",
    "topup",
    "transfer",
    "webhook_endpoint",
]
