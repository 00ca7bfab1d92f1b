-- Failed payments per month (payment_failures): how many, their base-currency amount, and the
-- share a later payment recovered, oldest month first.
SELECT
    month,
    count(*) AS failures,
    coalesce(sum(amount), 0) AS failed_amount,
    count(*) FILTER (WHERE recovered) AS recovered,
    {revenue}.decimal_div(count(*) FILTER (WHERE recovered), count(*)) AS recovered_share
FROM {revenue}.payment_failures
GROUP BY month
ORDER BY month;
