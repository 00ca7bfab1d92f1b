-- Revenue the base-currency figures leave out, in each currency's major units, most lines first.
SELECT currency, lines, {revenue}.major_amount(original_amount, currency) AS original_amount
FROM {revenue}.unconverted_revenue
ORDER BY lines DESC, currency;
