-- Revenue per customer, imported by the site's owner (`POST /v1/sites/{site}/revenue`,
-- `touchstone import revenue`) and joined with answers through the customer ids `identify`
-- gave. History imports need no table of their own: imported answers are events of a
-- synthetic visitor per customer (see server/src/import/responses.rs).
--
-- Amounts are whole minor units of their currency (cents for EUR, yen for JPY): never floats.

CREATE TABLE revenue (
    site_id      BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    -- Derived from the client's own id for the row, or else from the row's values, so a row
    -- posted twice is stored once.
    entry_id     UUID    NOT NULL,
    -- The client's own id for the row (an invoice number), when it gave one.
    reference    TEXT,
    customer_id  TEXT    NOT NULL,
    -- ISO 4217, upper-case.
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    amount       BIGINT  NOT NULL,
    occurred_at  BIGINT  NOT NULL,
    received_at  BIGINT  NOT NULL,
    PRIMARY KEY (site_id, entry_id)
);

-- The revenue report sums one currency over a period; privacy requests find a customer's rows.
CREATE INDEX revenue_by_currency_and_time ON revenue (site_id, currency, occurred_at);
CREATE INDEX revenue_by_customer ON revenue (site_id, customer_id);
