-- A coverage change's member ID (POST /v1/episodes/{id}/coverage), kept here and never in
-- Temporal: the update the workflow gets names the payer and plan only, and the payer
-- activity reads the member ID by (episode, the change's submission ID) (engine V4;
-- store/patients.py `keep_coverage`, `subscriber`).
CREATE TABLE IF NOT EXISTS patient_coverages (
    episode_id    text        NOT NULL,
    submission_id text        NOT NULL,
    payer_id      text        NOT NULL,
    member_id     text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (episode_id, submission_id)
);
