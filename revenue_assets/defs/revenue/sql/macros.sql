-- Helpers shared by every statement of the revenue layer (temporary: they live in the
-- connection only, so the warehouse holds no objects that need our Python to be read).

-- Minor units per major unit, as Stripe counts them (DESIGN §5).
CREATE OR REPLACE TEMP MACRO minor_divider(cur) AS
    CASE
        WHEN upper(cur) IN ('BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF',
                            'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 1
        WHEN upper(cur) IN ('BHD', 'JOD', 'KWD', 'OMR', 'TND') THEN 1000
        ELSE 100
    END;

-- The value of one minor unit as an exact decimal, so money never passes through a float.
CREATE OR REPLACE TEMP MACRO minor_unit(cur) AS
    CASE minor_divider(cur)
        WHEN 1 THEN 1.000::DECIMAL(4, 3)
        WHEN 1000 THEN 0.001::DECIMAL(4, 3)
        ELSE 0.010::DECIMAL(4, 3)
    END;

-- Minor units to a decimal amount in the currency itself.
CREATE OR REPLACE TEMP MACRO major_amount(minor, cur) AS
    CAST(minor * minor_unit(cur) AS DECIMAL(18, 3));

-- Minor units to the base currency with a conversion factor from exchange_rate.to_base.
CREATE OR REPLACE TEMP MACRO base_amount(minor, cur, to_base) AS
    CAST(minor * minor_unit(cur) * to_base AS DECIMAL(18, 6));

-- A Stripe reference that may be an id or an expanded object, read from a JSON path.
CREATE OR REPLACE TEMP MACRO ref_id(doc, path) AS
    coalesce(json_extract_string(doc, path || '.id'), json_extract_string(doc, path));

-- Sum of the `amount` fields of a JSON list such as `discount_amounts` (0 when empty).
CREATE OR REPLACE TEMP MACRO amounts_sum(doc) AS
    CASE
        WHEN doc IS NULL OR doc::VARCHAR IN ('[]', 'null') THEN 0
        ELSE coalesce(list_sum([x.amount FOR x IN json_transform(doc, '[{"amount":"BIGINT"}]')]), 0)
    END;

-- round(numerator / denominator) with halves away from zero, in exact integer arithmetic.
CREATE OR REPLACE TEMP MACRO div_round(numerator, denominator) AS
    sign(numerator) * ((2 * abs(numerator::HUGEINT) + denominator) // (2 * denominator));

-- numerator / denominator as DECIMAL(38, 6) (rounded half away), without passing through a float.
CREATE OR REPLACE TEMP MACRO decimal_div(numerator, denominator) AS
    CASE WHEN denominator IS NULL OR denominator = 0 THEN NULL ELSE
        CAST(div_round(CAST(numerator * 1000000 AS HUGEINT), denominator) AS DECIMAL(38, 0))
            * 0.000001::DECIMAL(7, 6)
    END;
