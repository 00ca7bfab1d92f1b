-- Charges and refunds that disagree with their balance transactions or with each other:
--   'charge_amount': a captured charge's balance transaction does not carry the captured amount
--                    (converted at the transaction's exchange rate when it settled in another
--                    currency, to the minor unit);
--   'missing_balance_transaction': a captured charge names a balance transaction we lack;
--   'refund_amount': a succeeded refund's balance transaction is not minus the refund;
--   'refunded_total': a charge's amount_refunded differs from its succeeded refunds.
WITH charges AS (
    SELECT c.id, c.currency, coalesce(c.amount_captured, c.amount) AS captured,
        c.amount_refunded, c.balance_transaction
    FROM {stripe}.charge AS c
    WHERE NOT coalesce(c._deleted, false) AND c.status = 'succeeded' AND coalesce(c.captured, true)
),
refunds AS (
    SELECT charge, sum(amount) AS refunded
    FROM {stripe}.refund
    WHERE NOT coalesce(_deleted, false) AND status = 'succeeded'
    GROUP BY ALL
)
SELECT 'charge_amount' AS problem, c.id AS subject, c.captured AS expected, b.amount AS found
FROM charges AS c
JOIN {stripe}.balance_transaction AS b ON b.id = c.balance_transaction
WHERE CASE
    WHEN lower(b.currency) = lower(c.currency) THEN b.amount <> c.captured
    ELSE abs(b.amount - round(c.captured * minor_divider(b.currency) / minor_divider(c.currency)
        * coalesce(b.exchange_rate, 1))) > 1
END
UNION ALL
SELECT 'missing_balance_transaction', c.id, c.captured, NULL
FROM charges AS c
LEFT JOIN {stripe}.balance_transaction AS b ON b.id = c.balance_transaction
WHERE c.balance_transaction IS NOT NULL AND b.id IS NULL
UNION ALL
SELECT 'refund_amount', r.id, -r.amount, b.amount
FROM {stripe}.refund AS r
JOIN {stripe}.balance_transaction AS b ON b.id = r.balance_transaction
WHERE NOT coalesce(r._deleted, false) AND r.status = 'succeeded'
    AND lower(b.currency) = lower(r.currency) AND b.amount <> -r.amount
UNION ALL
SELECT 'refunded_total', c.id, coalesce(f.refunded, 0), c.amount_refunded
FROM charges AS c
LEFT JOIN refunds AS f ON f.charge = c.id
WHERE coalesce(c.amount_refunded, 0) <> coalesce(f.refunded, 0)
ORDER BY 1, 2
