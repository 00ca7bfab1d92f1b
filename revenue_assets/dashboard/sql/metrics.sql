-- Every monthly figure of the dashboard: `revenue_metrics` as it is, oldest month first.
-- `previous_mrr` is last month's `mrr` row read beside each month (the MRR bridge's opening
-- bar), a lookup rather than a computation: mrr = previous_mrr + movements + fx_effect_mrr.
SELECT
    *,
    lag(mrr, 1, 0) OVER (ORDER BY month) AS previous_mrr
FROM {revenue}.revenue_metrics
ORDER BY month;
