-- Live quality clocks (engine V3): one row per clock per episode, the latest state the
-- workflow wrote through its records batch (opened, alerted, met, missed, ended).
-- HEDIS FUH (fuh_7, fuh_30) after a discharge from inpatient; HEDIS IET (iet_initiation,
-- iet_engagement) for substance-use programs. Days are the program's local calendar.
-- `measure` and `status` get their CHECK constraints from the enums (store/enum_checks.py).
CREATE TABLE IF NOT EXISTS quality_clocks (
    episode_id      text        NOT NULL,
    clock_id        text        NOT NULL,
    program_id      text        NOT NULL,
    measure         text        NOT NULL,
    status          text        NOT NULL,
    index_date      date        NOT NULL,
    first_day       date        NOT NULL,
    last_day        date        NOT NULL,
    closes_at       timestamptz NOT NULL,
    alert_at        timestamptz,
    alerted_at      timestamptz,
    services_needed integer     NOT NULL DEFAULT 1 CHECK (services_needed >= 1),
    service_days    date[]      NOT NULL DEFAULT '{}',
    met_on          date,
    opened_at       timestamptz NOT NULL,
    closed_at       timestamptz,
    updated_at      timestamptz NOT NULL,
    -- The batch that wrote this state: a later batch wins, a replayed older one does not.
    workflow_id     text        NOT NULL,
    seq             bigint      NOT NULL,
    PRIMARY KEY (episode_id, clock_id)
);
-- The Today page: open clocks of the caller's programs, soonest last day first.
CREATE INDEX IF NOT EXISTS quality_clocks_open
    ON quality_clocks (program_id, last_day, episode_id) WHERE status = 'open';
-- The outcomes report: clocks of a program by measure and index day.
CREATE INDEX IF NOT EXISTS quality_clocks_by_measure
    ON quality_clocks (program_id, measure, index_date);
