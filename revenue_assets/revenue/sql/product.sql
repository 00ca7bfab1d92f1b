-- Managed view `product`: one row per product (deleted ones included, flagged).
CREATE OR REPLACE TABLE {revenue}.product AS
SELECT
    id,
    getvariable('source_label') AS source_label,
    name,
    description,
    active,
    created AS timestamp,
    metadata,
    coalesce(_deleted, false) AS deleted
FROM {stripe}.product;
