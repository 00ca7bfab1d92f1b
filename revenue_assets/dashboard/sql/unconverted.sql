-- Revenue the base-currency figures leave out, as revenue_metrics counts it
-- (`unconverted_original_amounts`): per currency with neither an ECB rate nor a rate Stripe
-- settled it at, its original amount over all months (in the currency's major units) and how
-- many revenue lines carry it (revenue_line keeps them, their `amount` NULL).
WITH amounts AS (
    SELECT
        unnest(map_keys(unconverted_original_amounts)) AS currency,
        unnest(map_values(unconverted_original_amounts)) AS original_amount
    FROM {revenue}.revenue_metrics
),
lines AS (
    SELECT original_currency AS currency, count(*) AS lines
    FROM {revenue}.revenue_line
    WHERE is_paid AND amount IS NULL AND original_amount <> 0
    GROUP BY ALL
)
SELECT
    a.currency,
    coalesce(any_value(l.lines), 0) AS lines,
    {revenue}.major_amount(sum(a.original_amount), a.currency) AS original_amount
FROM amounts AS a
LEFT JOIN lines AS l ON l.currency = a.currency
GROUP BY a.currency
ORDER BY lines DESC, a.currency;
