-- Currencies whose revenue lines revenue_metrics could not convert into the base currency (no
-- ECB rate, no USD peg and no rate Stripe settled them at): each with its lines and original
-- amount (minor units) over all months. The revenue figures leave these out.
WITH amounts AS (
    SELECT unnest(map_keys(unconverted_original_amounts)) AS currency,
        unnest(map_values(unconverted_original_amounts)) AS original_amount
    FROM {revenue}.revenue_metrics
),
lines AS (
    SELECT original_currency AS currency, count(*) AS lines
    FROM {revenue}.revenue_line
    WHERE is_paid AND amount IS NULL AND original_amount <> 0
    GROUP BY ALL
)
SELECT a.currency, coalesce(any_value(l.lines), 0) AS lines, sum(a.original_amount) AS original_amount
FROM amounts AS a
LEFT JOIN lines AS l ON l.currency = a.currency
GROUP BY a.currency
ORDER BY a.currency
