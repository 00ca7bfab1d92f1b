"""Column layout of the raw `stripe.<table>` tables.

Each table has `id`, the object's scalar fields as typed columns, nested objects as JSON, the
whole object as `_raw` (so fields Stripe adds later survive) and the bookkeeping columns
`_synced_at`, `_source`, `_version`, `_deleted`. Fields that older API versions put elsewhere
(`invoice.subscription`, `invoice.paid`, line `price`, `subscription.plan`, ...) have columns
too, because event payloads keep the version they were created with. Embedded child lists
(invoice `lines`, subscription `items`, credit note `lines`) get no column of their own: they are
complete in their child tables (and kept in `_raw`), and copying them cost a fifth of a merge.
Likewise an event's payload is read from `_raw -> 'data'` (its object's id and type have columns).

Column types are written in a small vocabulary:
- `TIMESTAMP`: Stripe's unix seconds, stored as TIMESTAMPTZ;
- `REF`: an id that Stripe may also return expanded as an object; stored as the id (VARCHAR);
- `BIGINT` (amounts stay integer minor units), `VARCHAR`, `BOOLEAN`, `DOUBLE`;
- `JSON`: a nested object, stored in its own column. (Computing the rarely read ones from
  `_raw` as virtual columns cost more, not less: DuckDB evaluates every generated column of
  every inserted row to verify it, parsing `_raw` once per column; a sync measured 12% more
  CPU than with the objects stored.);
- `<type> @a.b.c`: extracted from a nested path instead of the top-level field of that name;
- `<type> @a|b`: the first of several fields present (a field an older API version named `b`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from revenue_assets.catalog.tables import CHILD_TABLES, TABLES_BY_NAME

_COLUMNS: dict[str, str] = {
    "charge": """
        amount BIGINT, amount_captured BIGINT, amount_refunded BIGINT, application REF,
        application_fee REF, application_fee_amount BIGINT, balance_transaction REF,
        billing_details JSON, calculated_statement_descriptor VARCHAR, captured BOOLEAN,
        created TIMESTAMP, currency VARCHAR, customer REF, description VARCHAR, disputed BOOLEAN,
        failure_balance_transaction REF, failure_code VARCHAR, failure_message VARCHAR,
        fraud_details JSON, livemode BOOLEAN, metadata JSON, on_behalf_of REF, outcome JSON,
        paid BOOLEAN, payment_intent REF, payment_method REF, payment_method_details JSON,
        receipt_email VARCHAR, receipt_number VARCHAR, receipt_url VARCHAR, refunded BOOLEAN,
        refunds JSON, review REF, shipping JSON, source_transfer REF,
        statement_descriptor VARCHAR, statement_descriptor_suffix VARCHAR, status VARCHAR,
        transfer_data JSON, transfer_group VARCHAR, source JSON,
        invoice REF
    """,
    "customer": """
        address JSON, balance BIGINT, created TIMESTAMP, currency VARCHAR, default_source REF,
        delinquent BOOLEAN, description VARCHAR, discount JSON, email VARCHAR,
        invoice_prefix VARCHAR, invoice_settings JSON, livemode BOOLEAN, metadata JSON,
        name VARCHAR, next_invoice_sequence BIGINT, phone VARCHAR, preferred_locales JSON,
        shipping JSON, tax_exempt VARCHAR, test_clock REF
    """,
    "invoice": """
        account_country VARCHAR, account_name VARCHAR, account_tax_ids JSON, amount_due BIGINT,
        amount_paid BIGINT, amount_remaining BIGINT, amount_shipping BIGINT, application REF,
        attempt_count BIGINT, attempted BOOLEAN, auto_advance BOOLEAN, automatic_tax JSON,
        billing_reason VARCHAR, collection_method VARCHAR, created TIMESTAMP @created|date,
        currency VARCHAR,
        custom_fields JSON, customer REF, customer_address JSON, customer_email VARCHAR,
        customer_name VARCHAR, customer_phone VARCHAR, customer_shipping JSON,
        customer_tax_exempt VARCHAR, customer_tax_ids JSON, default_payment_method REF,
        default_source REF, default_tax_rates JSON, description VARCHAR, discounts JSON,
        due_date TIMESTAMP, effective_at TIMESTAMP, ending_balance BIGINT, footer VARCHAR,
        from_invoice JSON, hosted_invoice_url VARCHAR, invoice_pdf VARCHAR, issuer JSON,
        last_finalization_error JSON, latest_revision REF, livemode BOOLEAN,
        metadata JSON, next_payment_attempt TIMESTAMP, number VARCHAR, on_behalf_of REF,
        payment_settings JSON, period_end TIMESTAMP, period_start TIMESTAMP,
        post_payment_credit_notes_amount BIGINT, pre_payment_credit_notes_amount BIGINT,
        receipt_number VARCHAR, rendering JSON, shipping_cost JSON, shipping_details JSON,
        starting_balance BIGINT, statement_descriptor VARCHAR, status VARCHAR,
        status_transitions JSON, subscription REF, subtotal BIGINT, subtotal_excluding_tax BIGINT,
        test_clock REF, total BIGINT, total_discount_amounts JSON, total_excluding_tax BIGINT,
        webhooks_delivered_at TIMESTAMP, automatically_finalizes_at TIMESTAMP,
        total_pretax_credit_amounts JSON, total_taxes JSON, amount_overpaid BIGINT, parent JSON,
        customer_account REF,
        paid BOOLEAN, charge REF, payment_intent REF, discount JSON, tax BIGINT,
        parent_subscription VARCHAR @parent.subscription_details.subscription
    """,
    "invoice_line_item": """
        amount BIGINT, currency VARCHAR, description VARCHAR, discount_amounts JSON,
        discountable BOOLEAN, discounts JSON, invoice REF, livemode BOOLEAN, metadata JSON,
        period JSON, quantity BIGINT, subscription REF, pretax_credit_amounts JSON, taxes JSON,
        parent JSON, pricing JSON, subtotal BIGINT, quantity_decimal VARCHAR,
        period_start TIMESTAMP @period.start, period_end TIMESTAMP @period.end,
        price JSON, plan JSON, proration BOOLEAN, type VARCHAR, subscription_item REF,
        invoice_item REF
    """,
    "invoice_payment": """
        amount_paid BIGINT, amount_requested BIGINT, created TIMESTAMP, currency VARCHAR,
        invoice REF, is_default BOOLEAN, livemode BOOLEAN, payment JSON, status VARCHAR,
        status_transitions JSON,
        payment_intent VARCHAR @payment.payment_intent, payment_charge VARCHAR @payment.charge
    """,
    "price": """
        active BOOLEAN, billing_scheme VARCHAR, created TIMESTAMP, currency VARCHAR,
        custom_unit_amount JSON, livemode BOOLEAN, lookup_key VARCHAR, metadata JSON,
        nickname VARCHAR, product REF, recurring JSON, tax_behavior VARCHAR, tiers_mode VARCHAR,
        transform_quantity JSON, type VARCHAR, unit_amount BIGINT, unit_amount_decimal VARCHAR
    """,
    "product": """
        active BOOLEAN, created TIMESTAMP, default_price REF, description VARCHAR, images JSON,
        livemode BOOLEAN, marketing_features JSON, metadata JSON, name VARCHAR,
        package_dimensions JSON, shippable BOOLEAN, statement_descriptor VARCHAR,
        tax_code VARCHAR, unit_label VARCHAR, updated TIMESTAMP, url VARCHAR, type VARCHAR
    """,
    "subscription": """
        application REF, application_fee_percent DOUBLE, automatic_tax JSON,
        billing_cycle_anchor TIMESTAMP, billing_cycle_anchor_config JSON, cancel_at TIMESTAMP,
        canceled_at TIMESTAMP, cancellation_details JSON, collection_method VARCHAR,
        created TIMESTAMP, currency VARCHAR, customer REF, days_until_due BIGINT,
        default_payment_method REF, default_source REF, default_tax_rates JSON,
        description VARCHAR, discounts JSON, ended_at TIMESTAMP, invoice_settings JSON,
        latest_invoice REF, livemode BOOLEAN, metadata JSON,
        next_pending_invoice_item_invoice TIMESTAMP, on_behalf_of REF, pause_collection JSON,
        payment_settings JSON, pending_invoice_item_interval JSON, pending_setup_intent REF,
        pending_update JSON, schedule REF, start_date TIMESTAMP, status VARCHAR, test_clock REF,
        transfer_data JSON, trial_end TIMESTAMP, trial_settings JSON, trial_start TIMESTAMP,
        cancel_at_period_end BOOLEAN, billing_thresholds JSON, billing_mode JSON,
        customer_account REF, managed_payments JSON, billing_schedules JSON,
        plan JSON, quantity BIGINT, discount JSON,
        current_period_start TIMESTAMP, current_period_end TIMESTAMP
    """,
    "subscription_item": """
        created TIMESTAMP, discounts JSON, metadata JSON, price JSON, quantity BIGINT,
        subscription REF, tax_rates JSON, plan JSON, current_period_end TIMESTAMP,
        current_period_start TIMESTAMP, billing_thresholds JSON
    """,
    "balance_transaction": """
        amount BIGINT, available_on TIMESTAMP, created TIMESTAMP, currency VARCHAR,
        description VARCHAR, exchange_rate DOUBLE, fee BIGINT, fee_details JSON, net BIGINT,
        reporting_category VARCHAR, source REF, status VARCHAR, type VARCHAR,
        balance_type VARCHAR
    """,
    "dispute": """
        amount BIGINT, balance_transactions JSON, charge REF, created TIMESTAMP, currency VARCHAR,
        evidence JSON, evidence_details JSON, is_charge_refundable BOOLEAN, livemode BOOLEAN,
        metadata JSON, payment_intent REF, payment_method_details JSON, reason VARCHAR,
        status VARCHAR, enhanced_eligibility_types JSON
    """,
    "payout": """
        amount BIGINT, application_fee REF, application_fee_amount BIGINT, arrival_date TIMESTAMP,
        automatic BOOLEAN, balance_transaction REF, created TIMESTAMP, currency VARCHAR,
        description VARCHAR, destination REF, failure_balance_transaction REF,
        failure_code VARCHAR, failure_message VARCHAR, livemode BOOLEAN, metadata JSON,
        method VARCHAR, original_payout REF, reconciliation_status VARCHAR, reversed_by REF,
        source_type VARCHAR, statement_descriptor VARCHAR, status VARCHAR, type VARCHAR,
        trace_id JSON, payout_method VARCHAR
    """,
    "credit_note": """
        amount BIGINT, amount_shipping BIGINT, created TIMESTAMP, currency VARCHAR, customer REF,
        customer_balance_transaction REF, discount_amount BIGINT, discount_amounts JSON,
        effective_at TIMESTAMP, invoice REF, livemode BOOLEAN, memo VARCHAR,
        metadata JSON, number VARCHAR, out_of_band_amount BIGINT, pdf VARCHAR, shipping_cost JSON,
        status VARCHAR, subtotal BIGINT, subtotal_excluding_tax BIGINT, total BIGINT,
        total_excluding_tax BIGINT, type VARCHAR, voided_at TIMESTAMP, pretax_credit_amounts JSON,
        total_taxes JSON, refunds JSON, post_payment_amount BIGINT, pre_payment_amount BIGINT,
        reason VARCHAR, customer_account REF
    """,
    "credit_note_line_item": """
        amount BIGINT, description VARCHAR, discount_amount BIGINT, discount_amounts JSON,
        invoice_line_item REF, livemode BOOLEAN, quantity BIGINT, tax_rates JSON, type VARCHAR,
        unit_amount BIGINT, unit_amount_decimal VARCHAR, pretax_credit_amounts JSON, taxes JSON,
        metadata JSON
    """,
    "refund": """
        amount BIGINT, balance_transaction REF, charge REF, created TIMESTAMP, currency VARCHAR,
        destination_details JSON, metadata JSON, payment_intent REF, reason VARCHAR,
        receipt_number VARCHAR, source_transfer_reversal REF, status VARCHAR,
        transfer_reversal REF, customer REF, customer_account REF, payment_method REF
    """,
    "invoiceitem": """
        amount BIGINT, currency VARCHAR, customer REF, date TIMESTAMP, description VARCHAR,
        discountable BOOLEAN, discounts JSON, invoice REF, livemode BOOLEAN, metadata JSON,
        period JSON, proration BOOLEAN, quantity BIGINT, tax_rates JSON, test_clock REF,
        parent JSON, pricing JSON, net_amount BIGINT, customer_account REF,
        quantity_decimal VARCHAR,
        price JSON, plan JSON, subscription REF, unit_amount BIGINT
    """,
    "coupon": """
        amount_off BIGINT, created TIMESTAMP, currency VARCHAR, duration VARCHAR,
        duration_in_months BIGINT, livemode BOOLEAN, max_redemptions BIGINT, metadata JSON,
        name VARCHAR, percent_off DOUBLE, redeem_by TIMESTAMP, times_redeemed BIGINT,
        valid BOOLEAN
    """,
    "event": """
        api_version VARCHAR, created TIMESTAMP, livemode BOOLEAN,
        pending_webhooks BIGINT, request JSON, type VARCHAR, account VARCHAR,
        object_id VARCHAR @data.object.id, object_type VARCHAR @data.object.object
    """,
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rate": """
        active BOOLEAN, country VARCHAR, created TIMESTAMP, description VARCHAR,
        display_name VARCHAR, effective_percentage DOUBLE, flat_amount JSON, inclusive BOOLEAN,
        jurisdiction VARCHAR, jurisdiction_level VARCHAR, livemode BOOLEAN, metadata JSON,
        percentage DOUBLE, rate_type VARCHAR, state VARCHAR, tax_type VARCHAR
    """,
    "plan": """
        active BOOLEAN, amount BIGINT, amount_decimal VARCHAR, billing_scheme VARCHAR,
        created TIMESTAMP, currency VARCHAR, interval VARCHAR, interval_count BIGINT,
        livemode BOOLEAN, metadata JSON, meter VARCHAR, nickname VARCHAR, product REF,
        tiers JSON, tiers_mode VARCHAR, transform_usage JSON, trial_period_days BIGINT,
        usage_type VARCHAR
    """,
    "promotion_code": """
        active BOOLEAN, code VARCHAR, created TIMESTAMP, customer REF, customer_account REF,
        expires_at TIMESTAMP, livemode BOOLEAN, max_redemptions BIGINT, metadata JSON,
        promotion JSON, restrictions JSON, times_redeemed BIGINT,
        coupon VARCHAR @promotion.coupon
    """,
    "subscription_schedule": """
        application REF, billing_mode JSON, canceled_at TIMESTAMP, completed_at TIMESTAMP,
        created TIMESTAMP, current_phase JSON, customer REF, customer_account REF,
        default_settings JSON, end_behavior VARCHAR, livemode BOOLEAN, metadata JSON,
        phases JSON, released_at TIMESTAMP, released_subscription REF, status VARCHAR,
        subscription REF, test_clock REF, pause_schedules JSON
    """,
    "shipping_rate": """
        active BOOLEAN, created TIMESTAMP, delivery_estimate JSON, display_name VARCHAR,
        fixed_amount JSON, livemode BOOLEAN, metadata JSON, tax_behavior VARCHAR, tax_code REF,
        type VARCHAR,
        amount BIGINT @fixed_amount.amount, currency VARCHAR @fixed_amount.currency
    """,
    # -- payments: intents, checkout, setup, radar, platform money movements ----------------
    "payment_intent": """
        amount BIGINT, amount_capturable BIGINT, amount_details JSON, amount_received BIGINT,
        application REF, application_fee_amount BIGINT, automatic_payment_methods JSON,
        canceled_at TIMESTAMP, cancellation_reason VARCHAR, capture_method VARCHAR,
        confirmation_method VARCHAR, created TIMESTAMP, currency VARCHAR, customer REF,
        customer_account REF, description VARCHAR, excluded_payment_method_types JSON,
        last_payment_error JSON, latest_charge REF, livemode BOOLEAN, managed_payments JSON,
        metadata JSON, next_action JSON, on_behalf_of REF,
        payment_method REF, payment_method_configuration_details JSON,
        payment_method_options JSON, payment_method_types JSON, processing JSON,
        receipt_email VARCHAR, review REF, setup_future_usage VARCHAR, shipping JSON,
        source REF, statement_descriptor VARCHAR, statement_descriptor_suffix VARCHAR,
        status VARCHAR, transfer_data JSON, transfer_group VARCHAR,
        last_payment_error_code VARCHAR @last_payment_error.code
    """,
    "checkout_session": """
        adaptive_pricing JSON, after_expiration JSON, allow_promotion_codes BOOLEAN,
        amount_subtotal BIGINT, amount_total BIGINT, automatic_tax JSON,
        billing_address_collection VARCHAR, cancel_url VARCHAR, client_reference_id VARCHAR,
        collected_information JSON, consent JSON, consent_collection JSON, created TIMESTAMP,
        currency VARCHAR, currency_conversion JSON, custom_fields JSON, custom_text JSON,
        customer REF, customer_account REF, customer_creation VARCHAR, customer_details JSON,
        customer_email VARCHAR, discounts JSON, expires_at TIMESTAMP,
        integration_identifier VARCHAR, invoice REF, invoice_creation JSON, livemode BOOLEAN,
        locale VARCHAR, managed_payments JSON, metadata JSON, mode VARCHAR,
        origin_context VARCHAR, payment_intent REF, payment_link REF,
        payment_method_collection VARCHAR, payment_method_configuration_details JSON,
        payment_method_options JSON, payment_method_types JSON, payment_status VARCHAR,
        permissions JSON, phone_number_collection JSON, recovered_from VARCHAR,
        saved_payment_method_options JSON, setup_intent REF, shipping_address_collection JSON,
        shipping_cost JSON, shipping_options JSON, status VARCHAR, submit_type VARCHAR,
        subscription REF, success_url VARCHAR, total_details JSON, ui_mode VARCHAR, url VARCHAR,
        wallet_options JSON,
        customer_details_email VARCHAR @customer_details.email
    """,
    "customer_balance_transaction": """
        amount BIGINT, checkout_session REF, created TIMESTAMP, credit_note REF, currency VARCHAR,
        customer REF, customer_account REF, description VARCHAR, ending_balance BIGINT,
        invoice REF, livemode BOOLEAN, metadata JSON, type VARCHAR
    """,
    "payment_method": """
        allow_redisplay VARCHAR, billing_details JSON, card JSON, created TIMESTAMP,
        customer REF, customer_account REF, livemode BOOLEAN, metadata JSON, type VARCHAR,
        card_brand VARCHAR @card.brand, card_last4 VARCHAR @card.last4,
        card_exp_month BIGINT @card.exp_month, card_exp_year BIGINT @card.exp_year
    """,
    "setup_attempt": """
        application REF, created TIMESTAMP, customer REF, customer_account REF,
        flow_directions JSON, livemode BOOLEAN, on_behalf_of REF, payment_method REF,
        payment_method_details JSON, setup_error JSON, setup_intent REF, status VARCHAR,
        usage VARCHAR, setup_error_code VARCHAR @setup_error.code
    """,
    "credit_balance_transaction": """
        created TIMESTAMP, credit JSON, credit_grant REF, debit JSON, effective_at TIMESTAMP,
        livemode BOOLEAN, test_clock REF, type VARCHAR
    """,
    "setup_intent": """
        application REF, attach_to_self BOOLEAN, automatic_payment_methods JSON,
        cancellation_reason VARCHAR, created TIMESTAMP, customer REF, customer_account REF,
        description VARCHAR, excluded_payment_method_types JSON, flow_directions JSON,
        last_setup_error JSON, latest_attempt REF, livemode BOOLEAN, mandate REF,
        metadata JSON, next_action JSON, on_behalf_of REF, payment_method REF,
        payment_method_configuration_details JSON, payment_method_options JSON,
        payment_method_types JSON, single_use_mandate REF, status VARCHAR, usage VARCHAR,
        last_setup_error_code VARCHAR @last_setup_error.code
    """,
    "review": """
        billing_zip VARCHAR, charge REF, closed_reason VARCHAR, created TIMESTAMP,
        ip_address VARCHAR, ip_address_location JSON, livemode BOOLEAN, open BOOLEAN,
        opened_reason VARCHAR, payment_intent REF, reason VARCHAR, session JSON
    """,
    "early_fraud_warning": """
        actionable BOOLEAN, charge REF, created TIMESTAMP, fraud_type VARCHAR, livemode BOOLEAN,
        payment_intent REF
    """,
    "transfer": """
        amount BIGINT, amount_reversed BIGINT, balance_transaction REF, created TIMESTAMP,
        currency VARCHAR, description VARCHAR, destination REF, destination_payment REF,
        livemode BOOLEAN, metadata JSON, reversals JSON, reversed BOOLEAN,
        source_transaction REF, source_type VARCHAR, transfer_group VARCHAR
    """,
    "application_fee": """
        account REF, amount BIGINT, amount_refunded BIGINT, application REF,
        balance_transaction REF, charge REF, created TIMESTAMP, currency VARCHAR,
        fee_source JSON, livemode BOOLEAN, originating_transaction REF, refunded BOOLEAN,
        refunds JSON
    """,
    "topup": """
        amount BIGINT, balance_transaction REF, created TIMESTAMP, currency VARCHAR,
        description VARCHAR, expected_availability_date TIMESTAMP, failure_code VARCHAR,
        failure_message VARCHAR, initiated_by VARCHAR, livemode BOOLEAN, metadata JSON,
        payment_method REF, source JSON, statement_descriptor VARCHAR, status VARCHAR,
        transfer_group VARCHAR
    """,
    "billing_meter": """
        created TIMESTAMP, customer_mapping JSON, default_aggregation JSON, display_name VARCHAR,
        event_name VARCHAR, event_time_window VARCHAR, livemode BOOLEAN, status VARCHAR,
        status_transitions JSON, updated TIMESTAMP, value_settings JSON
    """,
    "payment_link": """
        active BOOLEAN, after_completion JSON, allow_promotion_codes BOOLEAN, application REF,
        application_fee_amount BIGINT, application_fee_percent DOUBLE, automatic_tax JSON,
        billing_address_collection VARCHAR, currency VARCHAR, customer_creation VARCHAR,
        inactive_message VARCHAR, invoice_creation JSON, livemode BOOLEAN, metadata JSON,
        on_behalf_of REF, payment_method_collection VARCHAR, restrictions JSON,
        submit_type VARCHAR, subscription_data JSON, transfer_data JSON, url VARCHAR
    """,
    "entitlement_feature": """
        active BOOLEAN, livemode BOOLEAN, lookup_key VARCHAR, metadata JSON, name VARCHAR
    """,
    "quote": """
        amount_subtotal BIGINT, amount_total BIGINT, application REF,
        application_fee_amount BIGINT, application_fee_percent DOUBLE, automatic_tax JSON,
        collection_method VARCHAR, computed JSON, created TIMESTAMP, currency VARCHAR,
        customer REF, customer_account REF, default_tax_rates JSON, description VARCHAR,
        discounts JSON,
        expires_at TIMESTAMP, footer VARCHAR, from_quote JSON, header VARCHAR, invoice REF,
        invoice_settings JSON, livemode BOOLEAN, metadata JSON, number VARCHAR, on_behalf_of REF,
        status VARCHAR, status_transitions JSON, subscription REF, subscription_data JSON,
        subscription_schedule REF, test_clock REF, total_details JSON, transfer_data JSON
    """,
    "credit_grant": """
        amount JSON, applicability_config JSON, category VARCHAR, created TIMESTAMP,
        customer REF, customer_account REF, effective_at TIMESTAMP, expires_at TIMESTAMP, livemode BOOLEAN,
        metadata JSON, name VARCHAR, priority BIGINT, test_clock REF, updated TIMESTAMP,
        voided_at TIMESTAMP
    """,
    # -- events only ----------------------------------------------------------------------------
    # `end` is a reserved word in SQL: its column is `end_at`. The coupon is `source.coupon` in
    # current versions, a whole `coupon` object in older ones (event payloads keep theirs).
    "discount": """
        checkout_session REF, customer REF, customer_account REF, end_at TIMESTAMP @end,
        invoice REF, invoice_item REF, promotion_code REF, start TIMESTAMP, subscription REF,
        subscription_item REF, source_type VARCHAR @source.type,
        coupon REF @source.coupon|coupon
    """,
}

_STORAGE_TYPES = {
    "TIMESTAMP": "TIMESTAMPTZ",
    "REF": "VARCHAR",
    "BIGINT": "BIGINT",
    "VARCHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "JSON": "JSON",
}

# Bookkeeping columns every table ends with.
SYSTEM_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("_raw", "JSON", "The whole object as Stripe returned it (fields added later survive here)."),
    ("_synced_at", "TIMESTAMPTZ", "When this row was last written."),
    ("_source", "VARCHAR", "Where the snapshot came from: list, event or webhook."),
    (
        "_version",
        "TIMESTAMPTZ",
        "Snapshot time: the event's `created`, or the fetch time of a list.",
    ),
    (
        "_deleted",
        "BOOLEAN",
        "Deleted in Stripe (a `*.deleted` event, or gone from a full re-list).",
    ),
)

# `_raw` is most of a table's bytes. zstd stores it in a third of the space of DuckDB's default
# string compression and costs the writer less CPU (measured on a 68k-object sync: merges took
# about 20% less CPU, the file was 49 MB instead of 134 MB). Tables created earlier keep theirs.
_COMPRESSION = {"_raw": " USING COMPRESSION zstd"}


@dataclass(frozen=True)
class Column:
    """One typed column extracted from the object's JSON."""

    name: str
    kind: str  # vocabulary type: TIMESTAMP, REF, BIGINT, VARCHAR, BOOLEAN, DOUBLE, JSON
    path: tuple[str, ...]  # JSON path inside the object
    alternatives: tuple[str, ...] = ()  # older names of a top-level field, tried in order

    @property
    def storage_type(self) -> str:
        return _STORAGE_TYPES[self.kind]

    def definition(self) -> str:
        return f"{self.name} {self.storage_type}"


@dataclass(frozen=True)
class TableSchema:
    """The layout of one raw table."""

    name: str
    columns: tuple[Column, ...]
    parent_column: str | None  # children: the parent's id column (part of the primary key)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.parent_column, "id") if self.parent_column else ("id",)

    @property
    def partition_column(self) -> str | None:
        """The timestamp that places a row in a monthly partition (None: a full-refresh or
        events-only table, which has no partitions)."""
        if self.parent_column:
            return "_parent_created"
        table = TABLES_BY_NAME[self.name]
        return None if table.unpartitioned else table.created_field

    def ddl(self, schema: str) -> str:
        lines = ["id VARCHAR NOT NULL"]
        if self.parent_column:
            lines += [f"{self.parent_column} VARCHAR NOT NULL", "_parent_created TIMESTAMPTZ"]
        lines += [c.definition() for c in self.columns]
        lines += [
            f"{name} {type_}{_COMPRESSION.get(name, '')}" for name, type_, _ in SYSTEM_COLUMNS
        ]
        lines.append(f"PRIMARY KEY ({', '.join(self.key_columns)})")
        body = ",\n    ".join(lines)
        return f"CREATE TABLE IF NOT EXISTS {schema}.{self.name} (\n    {body}\n)"

    @property
    def all_column_names(self) -> list[str]:
        """The columns a write fills."""
        names = ["id"]
        if self.parent_column:
            names += [self.parent_column, "_parent_created"]
        names += [c.name for c in self.columns]
        names += [name for name, _, _ in SYSTEM_COLUMNS]
        return names


def _parse(spec: str) -> tuple[Column, ...]:
    columns = []
    for item in spec.split(","):
        words = item.split()
        if not words:
            continue
        name, kind = words[0], words[1]
        spec = words[2][1:] if len(words) > 2 else name
        names = spec.split("|")
        path = tuple(names[0].split("."))
        if kind not in _STORAGE_TYPES:
            raise ValueError(f"unknown column type {kind!r} for {name}")
        columns.append(Column(name, kind, path, tuple(names[1:])))
    return tuple(columns)


@cache
def table_schema(name: str) -> TableSchema:
    """The schema of a raw table, by warehouse table name."""
    parent_column = CHILD_TABLES[name][1].parent_column if name in CHILD_TABLES else None
    if name not in TABLES_BY_NAME and name not in CHILD_TABLES:
        raise KeyError(f"not a synced Stripe table: {name}")
    return TableSchema(name=name, columns=_parse(_COLUMNS[name]), parent_column=parent_column)
