-- ECB reference rates (plus USD pegs) with the factor converting each currency into the base
-- currency on each published day. Consumers join with ASOF, so a day without a publication
-- (weekend, holiday, discontinued currency) uses the last known rate.
CREATE OR REPLACE TABLE {revenue}.exchange_rate AS
SELECT
    currency,
    CAST(date AS DATE) AS date,
    TRY_CAST(per_eur AS DECIMAL(18, 6)) AS per_eur,
    CAST(to_base AS DECIMAL(38, 12)) AS to_base,
    getvariable('base_currency') AS base_currency,
    source
FROM read_csv('{rates_csv}', header = true, all_varchar = true)
ORDER BY currency, date;
