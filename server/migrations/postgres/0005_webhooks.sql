-- Webhooks: a site's subscriptions; the inbox of answers waiting to be matched against them
-- (filled in the ingest transaction, and only for sites that have subscriptions); the outbox
-- of deliveries, one per (subscription, answer); and every attempt at each delivery. The
-- payload is TEXT, not JSONB: every attempt must send exactly the bytes that were signed.

CREATE TABLE webhook_subscriptions (
    id                     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id                BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    url                    TEXT    NOT NULL,
    format                 TEXT    NOT NULL CHECK (format IN ('standard', 'slack')),
    description            TEXT,
    -- The filters, each optional, combined with AND.
    category               TEXT    CHECK (category IN ('promoter', 'passive', 'detractor')),
    max_score              BIGINT  CHECK (max_score BETWEEN 0 AND 10),
    touchpoint             TEXT,
    trait_name             TEXT,
    trait_value            TEXT,
    window_days            BIGINT  NOT NULL CHECK (window_days BETWEEN 1 AND 365),
    -- The signing secret (`whsec_…`), in clear because signing needs it. After a rotation the
    -- previous secret signs beside the new one until `previous_secret_until`.
    secret                 TEXT    NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  BIGINT,
    -- `disabled`: the receiver answered 410 Gone.
    state                  TEXT    NOT NULL CHECK (state IN ('active', 'paused', 'disabled')),
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL,
    CHECK ((trait_name IS NULL) = (trait_value IS NULL))
);

CREATE INDEX webhook_subscriptions_by_site ON webhook_subscriptions (site_id);

CREATE TABLE webhook_inbox (
    site_id    BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    event_id   UUID    NOT NULL,
    queued_at  BIGINT  NOT NULL,
    PRIMARY KEY (site_id, event_id)
);

CREATE INDEX webhook_inbox_by_age ON webhook_inbox (queued_at);

-- The outbox. A row exists before the first attempt; (subscription, event) is unique, so a
-- replayed answer never makes a second delivery. The payload is stored as sent, so every
-- attempt sends the same bytes under the same `webhook-id`.
CREATE TABLE webhook_deliveries (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id  BIGINT  NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    site_id          BIGINT  NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    -- The answer's event id, or a test delivery's own random id.
    event_id         UUID    NOT NULL,
    event_type       TEXT    NOT NULL,
    message_id       TEXT    NOT NULL UNIQUE,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT,
    -- A collector sending it holds it until `lease_until`; `lease_token` says which one.
    lease_until      BIGINT,
    lease_token      BIGINT,
    created_at       BIGINT  NOT NULL,
    finished_at      BIGINT,
    UNIQUE (subscription_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
-- Erasure finds a respondent's deliveries by their answers.
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (site_id, event_id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE webhook_attempts (
    delivery_id       BIGINT  NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt           BIGINT  NOT NULL,
    at                BIGINT  NOT NULL,
    status_code       BIGINT,
    error             TEXT,
    duration_ms       BIGINT  NOT NULL,
    -- At most a short excerpt of the receiver's answer.
    response_excerpt  TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
