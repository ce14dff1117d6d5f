-- The Selfology schema as the lab runs it. Idempotent: applied on every `lab up`.
CREATE SCHEMA IF NOT EXISTS selfology;

-- Transactional outbox: services insert here in their own transaction;
-- the outbox relay publishes pending rows to the Redis stream.
CREATE TABLE IF NOT EXISTS selfology.event_outbox (
    id           bigserial PRIMARY KEY,
    event_type   text        NOT NULL,
    payload      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'published', 'failed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
-- Pending rows are few among many published ones: a partial index keeps the
-- relay's and the morning check's lookups cheap.
CREATE INDEX IF NOT EXISTS event_outbox_pending_idx
    ON selfology.event_outbox (created_at, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS event_outbox_published_at_idx
    ON selfology.event_outbox (published_at) WHERE status = 'published';

CREATE TABLE IF NOT EXISTS selfology.personality_profiles (
    user_id       bigint      PRIMARY KEY,
    traits        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    answers_count integer     NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS selfology.trait_history (
    id          bigserial        PRIMARY KEY,
    event_id    bigint           NOT NULL UNIQUE,
    user_id     bigint           NOT NULL,
    trait       text             NOT NULL,
    value       double precision NOT NULL,
    recorded_at timestamptz      NOT NULL DEFAULT now()
);

-- The analysis worker's idempotency ledger: one row per outbox event whose
-- effect has been applied, written in the same transaction as the effect.
CREATE TABLE IF NOT EXISTS selfology.processed_events (
    event_id     bigint      PRIMARY KEY,
    event_type   text        NOT NULL,
    consumer     text        NOT NULL,
    slot         text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- The stream entry id each published row got from XADD: the relay compares it with the
-- stream to find rows that Redis lost (a restart without persistence, a SIGKILL within
-- appendfsync's second) and sets them back to pending. Added to existing outboxes too.
ALTER TABLE selfology.event_outbox ADD COLUMN IF NOT EXISTS stream_entry_id text;
-- The weekly archive (outbox_archive, which creates it) copies every outbox column.
ALTER TABLE IF EXISTS selfology.event_outbox_archive ADD COLUMN IF NOT EXISTS stream_entry_id text;

-- The slot that consumes events, as recorded by a switch (slot_state writes it). Workers
-- restore the Redis key selfology:active_slot from it (SET NX) when Redis lost the key.
CREATE TABLE IF NOT EXISTS selfology.active_slot (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    slot       text        NOT NULL CHECK (slot IN ('blue', 'green')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
