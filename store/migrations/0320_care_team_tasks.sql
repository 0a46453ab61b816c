-- What the care team owes after an urgent message (issue 12, store/channels/care_tasks.py):
-- an acknowledgement of an urgent care-team message (who, when, what was done), or the
-- call-back task a patient-reported PHQ-9 item 9 above zero opens (who, when, outcome).
-- Opened in the transaction that queues the message; the escalation ladder
-- (store/channels/escalation.py) chases what is still open. The kind, outcome and
-- response CHECKs are generated from the rule enums (store/enum_checks.py).
CREATE TABLE IF NOT EXISTS care_team_tasks (
    task_id            text        PRIMARY KEY,
    kind               text        NOT NULL,
    episode_id         text        NOT NULL,
    program_id         text        NOT NULL,
    workflow_id        text        NOT NULL,
    seq                bigint      NOT NULL,
    message_id         text        REFERENCES notification_outbox (message_id),
    template           text        NOT NULL,
    opened_at          timestamptz NOT NULL,
    first_minutes      float8      NOT NULL CHECK (first_minutes > 0),
    repeat_minutes     float8      NOT NULL CHECK (repeat_minutes > 0),
    escalations_done   smallint    NOT NULL DEFAULT 0,
    next_escalation_at timestamptz,
    done_at            timestamptz,
    done_by            text,
    callback_outcome   text,
    ack_response       text,
    CHECK ((done_at IS NULL) = (done_by IS NULL)),
    CHECK (done_at IS NULL OR (callback_outcome IS NULL) <> (ack_response IS NULL))
);
CREATE INDEX IF NOT EXISTS care_team_tasks_due
    ON care_team_tasks (next_escalation_at) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS care_team_tasks_episode
    ON care_team_tasks (episode_id, opened_at);
CREATE INDEX IF NOT EXISTS care_team_tasks_open_program
    ON care_team_tasks (program_id, opened_at) WHERE done_at IS NULL;

-- Each step, for the episode's timeline: opened, escalated (step n), done.
CREATE TABLE IF NOT EXISTS care_team_task_events (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id      text        NOT NULL REFERENCES care_team_tasks (task_id),
    episode_id   text        NOT NULL,
    event        text        NOT NULL CHECK (event IN ('opened', 'escalated', 'done')),
    step         smallint,
    actor        text        NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS care_team_task_events_episode
    ON care_team_task_events (episode_id, at);
