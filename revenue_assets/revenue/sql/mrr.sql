-- Managed view `mrr`: current MRR per subscription, i.e. the `mrr_history` row of the current
-- month, evaluated at the evaluation time (now, unless `as_of` is configured).
CREATE OR REPLACE TABLE {revenue}.mrr AS
SELECT
    source_label,
    customer_id,
    subscription_id,
    mrr,
    original_currency,
    original_mrr,
    currency,
    arr,
    evaluated_at
FROM {revenue}.mrr_history
WHERE month = CAST(date_trunc('month', getvariable('as_of')::TIMESTAMPTZ) AS DATE) AND original_mrr > 0;
