-- Helpers shared by the revenue layer's statements, stored in its schema so that its views
-- (which use them) work from any DuckDB client, without our Python. Statements that build
-- tables find them through the search path; view definitions name the schema.

-- Minor units per major unit, as Stripe counts them (the lists come from the catalog).
CREATE OR REPLACE MACRO {revenue}.minor_divider(cur) AS
    CASE
        WHEN upper(cur) IN ({zero_decimal_currencies}) THEN 1
        WHEN upper(cur) IN ({three_decimal_currencies}) THEN 1000
        ELSE 100
    END;

-- The value of one minor unit as an exact decimal, so money never passes through a float.
CREATE OR REPLACE MACRO {revenue}.minor_unit(cur) AS
    CASE {revenue}.minor_divider(cur)
        WHEN 1 THEN 1.000::DECIMAL(4, 3)
        WHEN 1000 THEN 0.001::DECIMAL(4, 3)
        ELSE 0.010::DECIMAL(4, 3)
    END;

-- Minor units to a decimal amount in the currency itself (exact).
CREATE OR REPLACE MACRO {revenue}.major_amount(minor, cur) AS
    CAST(minor::DECIMAL(18, 0) * {revenue}.minor_unit(cur) AS DECIMAL(18, 3));

-- Minor units to the base currency, with `exchange_rate.minor_to_base` of the row's date: the
-- last step of every money column. The product is rounded to the millionth of the base unit
-- (exact for any amount below 10^9 base units; the rates themselves have 5-6 significant
-- digits), and NULL when the currency has no rate.
CREATE OR REPLACE MACRO {revenue}.base_amount(minor, factor) AS
    CAST(minor * factor AS DECIMAL(18, 6));

-- A TIMESTAMPTZ as a naive UTC timestamp: calendar arithmetic (months, truncation) on naive
-- timestamps is ~50x cheaper than through the time zone library, and UTC is our calendar.
CREATE OR REPLACE MACRO {revenue}.utc(ts) AS make_timestamp(epoch_us(ts));

-- A Stripe reference that may be an id or an expanded object, read from a JSON path.
CREATE OR REPLACE MACRO {revenue}.ref_id(doc, path) AS
    coalesce(json_extract_string(doc, path || '.id'), json_extract_string(doc, path));

-- Sum of the `amount` fields of a JSON list such as `discount_amounts` (0 when empty).
CREATE OR REPLACE MACRO {revenue}.amounts_sum(doc) AS
    CASE
        WHEN doc IS NULL OR doc::VARCHAR IN ('[]', 'null') THEN 0
        ELSE coalesce(list_sum([x.amount FOR x IN json_transform(doc, '[{"amount":"BIGINT"}]')]), 0)
    END;

-- round(numerator / denominator) with halves away from zero, in exact integer arithmetic.
CREATE OR REPLACE MACRO {revenue}.div_round(numerator, denominator) AS
    sign(numerator) * ((2 * abs(numerator::HUGEINT) + denominator) // (2 * denominator));

-- numerator / denominator as DECIMAL(38, 6) (rounded half away), without passing through a float.
CREATE OR REPLACE MACRO {revenue}.decimal_div(numerator, denominator) AS
    CASE WHEN denominator IS NULL OR denominator = 0 THEN NULL ELSE
        CAST({revenue}.div_round(CAST(numerator * 1000000 AS HUGEINT), denominator) AS DECIMAL(38, 0))
            * 0.000001::DECIMAL(7, 6)
    END;

-- The compatible deferral's month count of a revenue line: max(1, round(days / 30.44)) for an
-- invoice line's service period, 1 for anything else.
CREATE OR REPLACE MACRO {revenue}.compat_months(kind, period_start, period_end) AS
    CASE
        WHEN kind = 'invoice_line' THEN greatest(
            1, round((epoch(period_end) - epoch(period_start)) / 86400.0 / 30.44)
        )::INTEGER
        ELSE 1
    END;

-- The base-currency value of one minor unit of `cur` as Stripe converted it when the account
-- settled a payment in another currency: the balance transaction's `exchange_rate` (settlement
-- units per unit of `cur`) times the settlement currency's own factor into the base currency
-- (1 when the account settles in the base currency).
CREATE OR REPLACE MACRO {revenue}.settled_minor_to_base(exchange_rate, settlement_to_base, cur) AS
    exchange_rate * settlement_to_base::DOUBLE / {revenue}.minor_divider(cur);

-- Whether an invoice is paid: current API versions say it in `status`, older payloads only
-- in the boolean `paid`.
CREATE OR REPLACE MACRO {revenue}.invoice_is_paid(status, paid) AS
    CASE WHEN status IS NOT NULL THEN status = 'paid' ELSE coalesce(paid, false) END;

-- A recurring amount normalized to a month is amount × per_month_num / per_month_den: weekly
-- ×52/12, yearly ÷12, daily ×365/12, each ÷ interval_count (Stripe's MRR normalization).
CREATE OR REPLACE MACRO {revenue}.per_month_num(interval) AS
    CASE interval WHEN 'week' THEN 52 WHEN 'day' THEN 365 ELSE 1 END;

CREATE OR REPLACE MACRO {revenue}.per_month_den(interval, interval_count) AS
    CASE interval WHEN 'month' THEN 1 ELSE 12 END * greatest(coalesce(interval_count, 1), 1);
