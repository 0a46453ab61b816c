-- The patient's date of birth, beside the contact details: the questionnaire page asks
-- for it before the questions. Until now it lived only in the workflow's (encrypted)
-- start payload, which the page must not read.
ALTER TABLE patient_contacts ADD COLUMN IF NOT EXISTS birth_date date;

-- Questionnaire links (store/channels/links.py): one per patient message that asks for a
-- questionnaire, made by the patient channel when it sends. Only the token's SHA-256 is
-- kept; the token itself is in the message and nowhere else.
CREATE TABLE IF NOT EXISTS questionnaire_links (
    link_id          text        PRIMARY KEY,
    message_id       text        NOT NULL UNIQUE,
    token_hash       bytea       NOT NULL UNIQUE,
    episode_id       text        NOT NULL,
    instrument       text        NOT NULL CHECK (instrument IN ('phq9', 'gad7')),
    check_birth_date boolean     NOT NULL,
    max_wrong_birth_dates integer NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    wrong_birth_dates integer    NOT NULL DEFAULT 0,
    locked_at        timestamptz,
    answer_key_hash  bytea,
    used_at          timestamptz
);
CREATE INDEX IF NOT EXISTS questionnaire_links_episode ON questionnaire_links (episode_id);

-- Requests for a link that does not open (unknown, expired, used, locked), by client
-- address: the page refuses an address that misses too often (token guessing).
CREATE TABLE IF NOT EXISTS questionnaire_link_misses (
    client text        NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS questionnaire_link_misses_client
    ON questionnaire_link_misses (client, at);
