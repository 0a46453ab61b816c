-- Follow-up questionnaires after the episode has closed (issue 12, "measures that land in
-- the quality windows"): one row per episode and follow-up, scheduled when the closure
-- lands (store/followups.py), sent, reminded and closed by the follow-up job. The
-- episode's workflow has ended by then, so the answer is recorded here, not in Temporal.
--
--   due_kind       '6_month' (MIPS 411 / response at 6 months) or '12_month' (CMS159 /
--                  MIPS 370 remission at 12 months +/- 60 days)
--   program_id     the episode's program (the report reads a program's rows)
--   instrument     the questionnaire sent: 'phq9' (the measures' instrument) or 'gad7'
--   index_date     the index PHQ-9's date (the episode's first PHQ-9), in the program's days
--   index_total    that PHQ-9's total (the measures count an index above 9)
--   window_opens   first day a follow-up score counts, inclusive (index_date + policy days)
--   window_closes  last day it counts, inclusive
--   due_on         the day the link is sent (index_date + the policy's due days)
--   message_id     the outbox message that carries the link (set when it is queued)
--   link_id        the questionnaire link (questionnaire_links), set once the link exists
--   status         'scheduled' (not sent yet), 'sent' (link out, no answer yet),
--                  'answered' (total / item9 / answers / answered_at set),
--                  'no_response' (the window closed unanswered; closed_at set)
--   total          the score's total (PHQ-9 0-27, GAD-7 0-21)
--   item9          PHQ-9 item 9 (0-3); NULL for GAD-7
--   answers        the item answers as a JSON array of integers, in item order
--   answered_at    when the patient submitted
--   sent_at, reminded_at, closed_at: when the link went, the reminder went, no_response
CREATE TABLE IF NOT EXISTS followup_measures (
    episode_id    text        NOT NULL REFERENCES episodes (episode_id) ON DELETE CASCADE,
    due_kind      text        NOT NULL CHECK (due_kind IN ('6_month', '12_month')),
    program_id    text        NOT NULL,
    instrument    text        NOT NULL CHECK (instrument IN ('phq9', 'gad7')),
    index_date    date        NOT NULL,
    index_total   smallint    CHECK (index_total BETWEEN 0 AND 27),
    window_opens  date        NOT NULL,
    window_closes date        NOT NULL,
    due_on        date        NOT NULL,
    message_id    text        UNIQUE,
    link_id       text        UNIQUE,
    status        text        NOT NULL DEFAULT 'scheduled'
                              CHECK (status IN ('scheduled', 'sent', 'answered', 'no_response')),
    total         smallint    CHECK (total BETWEEN 0 AND 27),
    item9         smallint    CHECK (item9 BETWEEN 0 AND 3),
    answers       jsonb       CHECK (answers IS NULL OR jsonb_typeof(answers) = 'array'),
    answered_at   timestamptz,
    sent_at       timestamptz,
    reminded_at   timestamptz,
    closed_at     timestamptz,
    scheduled_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (episode_id, due_kind),
    CHECK (window_opens <= due_on AND due_on <= window_closes),
    CHECK (status <> 'answered'
           OR (total IS NOT NULL AND answers IS NOT NULL AND answered_at IS NOT NULL)),
    CHECK (status <> 'no_response' OR closed_at IS NOT NULL)
);
-- The job's passes: rows to send (scheduled, by due day) and rows whose window may close.
CREATE INDEX IF NOT EXISTS followup_measures_pending
    ON followup_measures (due_on) WHERE status = 'scheduled';
CREATE INDEX IF NOT EXISTS followup_measures_open
    ON followup_measures (window_closes) WHERE status IN ('scheduled', 'sent');
-- The outcomes report: a program's follow-ups by index date.
CREATE INDEX IF NOT EXISTS followup_measures_program
    ON followup_measures (program_id, index_date);
