-- Managed view `customer`: one row per customer (deleted ones included, flagged), with its
-- cohort (month of its first invoice) and the coupon of that first invoice.
CREATE OR REPLACE TABLE {revenue}.customer AS
WITH invoices AS (
    SELECT
        customer,
        created,
        -- the first discount of the invoice: an id, an expanded object, or the legacy object
        coalesce(
            ref_id(discounts, '$[0]'),
            discount ->> '$.id',
            json_extract_string(total_discount_amounts, '$[0].discount')
        ) AS discount_id
    FROM {stripe}.invoice
    WHERE NOT coalesce(_deleted, false) AND coalesce(status, '') <> 'draft' AND customer IS NOT NULL
),
first_invoice AS (
    SELECT customer, min(created) AS first_created, arg_min(discount_id, created) AS discount_id
    FROM invoices
    GROUP BY customer
)
SELECT
    c.id,
    getvariable('source_label') AS source_label,
    c.created AS timestamp,
    c.name,
    c.email,
    c.phone,
    c.address,
    c.metadata,
    c.address ->> '$.country' AS country,
    strftime(f.first_created, '%Y-%m') AS cohort,
    dc.coupon AS initial_coupon,
    dc.coupon_id AS initial_coupon_id,
    upper(c.currency) AS original_currency,
    c.description,
    c.delinquent,
    coalesce(c._deleted, false) AS deleted
FROM {stripe}.customer AS c
LEFT JOIN first_invoice AS f ON f.customer = c.id
LEFT JOIN discount_coupon AS dc ON dc.discount_id = f.discount_id;
