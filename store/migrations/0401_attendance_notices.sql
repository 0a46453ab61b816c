-- A group's population (adult / adolescent) picks the weekly minimum; and the notices
-- the API sends a running episode about its attendance (only the exceptions), kept until
-- the workflow has taken them so none is lost when Temporal is briefly unreachable.
ALTER TABLE care_groups ADD COLUMN IF NOT EXISTS age_group text NOT NULL DEFAULT 'adult'
    CHECK (age_group IN ('adult', 'adolescent'));

CREATE TABLE IF NOT EXISTS attendance_notices (
    episode_id   text        NOT NULL,
    notice_id    text        NOT NULL,
    kind         text        NOT NULL,
    body         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    delivered_at timestamptz,
    outcome      text,
    PRIMARY KEY (episode_id, notice_id)
);
CREATE INDEX IF NOT EXISTS attendance_notices_pending
    ON attendance_notices (episode_id, created_at) WHERE delivered_at IS NULL;
