-- Care records: the cross-episode view clinics query (census, due lists, audit trail).
-- Temporal holds each episode's process; these rows are written by activities through
-- store.postgres.PostgresRecordStore, idempotently per (workflow_id, seq).
-- CHECK constraints on phase / level / event columns are NOT written here: migrate()
-- generates them from the Python enums in rules/ (see store/enum_checks.py).

CREATE TABLE IF NOT EXISTS applied_batches (
    workflow_id text        NOT NULL,
    seq         bigint      NOT NULL,
    run_id      text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, seq)
);

CREATE TABLE IF NOT EXISTS episodes (
    episode_id       text        PRIMARY KEY,
    workflow_id      text        NOT NULL,
    program_id       text        NOT NULL,
    phase            text        NOT NULL,
    outcome          text,
    level_authorized text,
    level_delivered  text,
    started_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    next_review_due  timestamptz,
    risk_flag        boolean     NOT NULL DEFAULT false,
    baseline_phq9    smallint    CHECK (baseline_phq9 BETWEEN 0 AND 27),
    latest_phq9      smallint    CHECK (latest_phq9 BETWEEN 0 AND 27),
    updated_at       timestamptz NOT NULL,
    last_seq         bigint      NOT NULL
);

-- Append-only audit trail: who moved the episode, when, and why.
CREATE TABLE IF NOT EXISTS transitions (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id       text        NOT NULL REFERENCES episodes (episode_id),
    workflow_id      text        NOT NULL,
    seq              bigint      NOT NULL,
    ordinal          integer     NOT NULL,
    run_id           text        NOT NULL,
    from_phase       text        NOT NULL,
    to_phase         text        NOT NULL,
    event            text        NOT NULL,
    reason           text        NOT NULL,
    actor            text        NOT NULL,
    at               timestamptz NOT NULL,
    level_delivered  text,
    level_authorized text,
    UNIQUE (workflow_id, seq, ordinal)
);

CREATE OR REPLACE FUNCTION carepath_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;

DROP TRIGGER IF EXISTS transitions_append_only ON transitions;
CREATE TRIGGER transitions_append_only
    BEFORE UPDATE OR DELETE ON transitions
    FOR EACH ROW EXECUTE FUNCTION carepath_reject_change();

CREATE TABLE IF NOT EXISTS reviews (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id         text        NOT NULL REFERENCES episodes (episode_id),
    workflow_id        text        NOT NULL,
    seq                bigint      NOT NULL,
    ordinal            integer     NOT NULL,
    review_id          text        NOT NULL,
    kind               text        NOT NULL,
    clinician_id       text        NOT NULL,
    at                 timestamptz NOT NULL,
    level              text,
    phq9_total         smallint    CHECK (phq9_total BETWEEN 0 AND 27),
    phq9_item9         smallint    CHECK (phq9_item9 BETWEEN 0 AND 3),
    gad7_total         smallint    CHECK (gad7_total BETWEEN 0 AND 21),
    cssrs_high_risk    boolean,
    hours_attended     double precision,
    units_attended     integer,
    recommended_action text,
    decision           text,
    override_reason    text,
    reasons            text[]      NOT NULL DEFAULT '{}',
    UNIQUE (workflow_id, seq, ordinal)
);

CREATE TABLE IF NOT EXISTS authorizations (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id           text        NOT NULL REFERENCES episodes (episode_id),
    authorization_number text,
    payer_id             text,
    level                text        NOT NULL,
    status               text        NOT NULL,
    unit_type            text,
    units_approved       integer,
    units_used           integer,
    start_date           date,
    end_date             date,
    recorded_at          timestamptz NOT NULL,
    CHECK (start_date IS NULL OR end_date IS NULL OR start_date <= end_date)
);
-- One row per payer authorization number; rows without a number (requests) accumulate.
CREATE UNIQUE INDEX IF NOT EXISTS authorizations_episode_number
    ON authorizations (episode_id, authorization_number)
    WHERE authorization_number IS NOT NULL;

-- Transactional outbox: written with the batch, delivered by store.outbox.Dispatcher.
CREATE TABLE IF NOT EXISTS notification_outbox (
    message_id      text        PRIMARY KEY,
    episode_id      text        NOT NULL,
    program_id      text        NOT NULL,
    workflow_id     text        NOT NULL,
    seq             bigint      NOT NULL,
    channel         text        NOT NULL,
    template        text        NOT NULL,
    recipient_role  text        NOT NULL,
    urgency         text        NOT NULL,
    params          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX IF NOT EXISTS notification_outbox_due
    ON notification_outbox (next_attempt_at)
    WHERE status = 'pending';
