-- `persons_revenue` and `groups_revenue`: all-time revenue and current MRR per linked person
-- (`{key}` = distinct_id) or group (group_key), in the base currency.
CREATE OR REPLACE TABLE {revenue}.{table} AS
WITH revenue AS (
    SELECT
        customer_id,
        sum(amount) FILTER (WHERE kind IN ('invoice_line', 'charge')) AS gross_revenue,
        -sum(amount) FILTER (WHERE kind IN ('refund', 'credit_note')) AS refunds
    FROM {revenue}.revenue_line
    WHERE is_paid
    GROUP BY ALL
),
mrr AS (SELECT customer_id, sum(mrr) AS mrr FROM {revenue}.mrr GROUP BY ALL)
SELECT
    l.{key},
    getvariable('base_currency') AS currency,
    count(*) AS customers,
    list(l.customer_id ORDER BY l.customer_id) AS customer_ids,
    any_value(l.{found}) AS {found},
    CAST(coalesce(sum(r.gross_revenue), 0) AS DECIMAL(38, 6)) AS gross_revenue,
    CAST(coalesce(sum(r.refunds), 0) AS DECIMAL(38, 6)) AS refunds,
    CAST(coalesce(sum(r.gross_revenue), 0) - coalesce(sum(r.refunds), 0) AS DECIMAL(38, 6))
        AS net_revenue,
    CAST(coalesce(sum(m.mrr), 0) AS DECIMAL(38, 6)) AS mrr,
    CAST(12 * coalesce(sum(m.mrr), 0) AS DECIMAL(38, 6)) AS arr
FROM {revenue}.customer_link AS l
LEFT JOIN revenue AS r ON r.customer_id = l.customer_id
LEFT JOIN mrr AS m ON m.customer_id = l.customer_id
WHERE l.{key} IS NOT NULL
GROUP BY l.{key};
