-- Currencies whose revenue lines revenue_metrics could not convert into the base currency,
-- each with its lines and original amount (minor units) over all months.
SELECT currency, lines, original_amount
FROM {revenue}.unconverted_revenue
ORDER BY currency
