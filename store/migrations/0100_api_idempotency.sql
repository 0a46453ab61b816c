-- HTTP API: Idempotency-Key answers and the API's own audit rows (who called what).
-- Owned by api/ (api/records.py). No PHI: request bodies are kept only as a hash, and
-- a stored response body is what the caller was already given.

-- One row per (key owner, Idempotency-Key). status_code NULL = the first request is still
-- in flight; a retry then gets 409. A request that failed with 5xx deletes its row.
CREATE TABLE IF NOT EXISTS api_idempotency (
    key_owner       text        NOT NULL,
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    method          text        NOT NULL,
    path            text        NOT NULL,
    request_hash    text        NOT NULL,
    status_code     integer     CHECK (status_code BETWEEN 100 AND 599),
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (key_owner, idempotency_key)
);
CREATE INDEX IF NOT EXISTS api_idempotency_created ON api_idempotency (created_at);

-- Every mutating call, written before Temporal is asked (so a call is never unrecorded)
-- and finished with its status afterwards. The timeline merges these with transitions.
CREATE TABLE IF NOT EXISTS api_calls (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id      text        NOT NULL,
    operation       text        NOT NULL,
    submission_id   text,
    actor           text        NOT NULL,
    role            text        NOT NULL,
    key_owner       text        NOT NULL,
    at              timestamptz NOT NULL,
    status_code     integer,
    finished_at     timestamptz
);
CREATE INDEX IF NOT EXISTS api_calls_episode ON api_calls (episode_id, at);
