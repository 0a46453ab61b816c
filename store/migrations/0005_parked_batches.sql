-- Record batches PostgreSQL refused for their content (SQLSTATE class 22 data exception or
-- 23 integrity violation): stored here, whole, instead of being retried forever, so the
-- episode's later batches are written and nothing accepted is lost.
-- batch_json is the EffectBatch as ASCII-only JSON text (NUL, control characters and lone
-- surrogates escaped as \uXXXX), so any content is storable and json.loads gives it back.
-- The batch's (workflow_id, seq) is claimed in applied_batches in the same transaction.
CREATE TABLE IF NOT EXISTS parked_batches (
    workflow_id text        NOT NULL,
    seq         bigint      NOT NULL,
    run_id      text        NOT NULL,
    episode_id  text        NOT NULL,
    sqlstate    text,
    error_class text        NOT NULL,
    batch_json  text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    PRIMARY KEY (workflow_id, seq)
);
CREATE INDEX IF NOT EXISTS parked_batches_open ON parked_batches (parked_at)
    WHERE resolved_at IS NULL;
