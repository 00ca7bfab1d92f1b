-- Revenue lines the base-currency figures leave out because the ECB publishes no rate for
-- their currency (their `amount` is NULL; revenue_line keeps the original amounts).
SELECT original_currency AS currency, count(*) AS lines
FROM {revenue}.revenue_line
WHERE is_paid AND amount IS NULL AND original_amount <> 0
GROUP BY ALL
ORDER BY lines DESC, currency;
