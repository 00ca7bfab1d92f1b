-- Managed view `revenue_item` (a DuckDB view over revenue_line), deferred the compatible way: a paid invoice line whose service
-- period spans several months becomes `months = max(1, round(days / 30.44))` rows of equal
-- parts (to the minor unit: the first `amount mod months` rows carry one unit more, so the rows
-- sum exactly to the line), row k dated `period_start + k months`, id `<line>_<k>` when
-- months > 1. Charges, refunds and credit notes are single rows dated when they happened.
CREATE OR REPLACE VIEW {revenue}.revenue_item AS
WITH items AS (
    SELECT
        *,
        {revenue}.compat_months(kind, period_start, period_end) AS months
    FROM {revenue}.revenue_line
    WHERE is_paid
),
split AS (
    SELECT
        *,
        sign(original_amount) * (
            abs(original_amount) // months
            + CASE WHEN k < abs(original_amount) % months THEN 1 ELSE 0 END
        ) AS part,
        CASE WHEN months > 1
            THEN to_timestamp(epoch({revenue}.utc(period_start) + to_months(k::INTEGER)))
            ELSE period_start
        END AS item_timestamp
    FROM (SELECT *, unnest(range(months)) AS k FROM items)
)
SELECT
    CASE WHEN s.months > 1 THEN s.id || '_' || s.k ELSE s.id END AS id,
    s.invoice_item_id,
    {source_label} AS source_label,
    s.item_timestamp AS timestamp,
    s.created_at,
    s.is_recurring,
    s.product_id,
    s.customer_id,
    s.invoice_id,
    s.subscription_id,
    s.coupon,
    s.coupon_id,
    s.promotion_code_id,
    s.promotion_code,
    s.original_currency,
    s.part::BIGINT AS original_amount,
    {revenue}.minor_divider(s.original_currency) <> 100 AS enable_currency_aware_divider,
    {revenue}.minor_divider(s.original_currency) AS currency_aware_divider,
    {revenue}.major_amount(s.part, s.original_currency) AS currency_aware_amount,
    {base_currency} AS currency,
    {revenue}.base_amount(s.part, fx.minor_to_base) AS amount,
    s.kind,
    s.id AS revenue_line_id,
    s.k AS deferral_index,
    s.months AS deferral_months
FROM split AS s
LEFT JOIN {revenue}.exchange_rate AS fx
    ON fx.currency = s.original_currency AND fx.date = CAST({revenue}.utc(s.item_timestamp) AS DATE);
