-- Who each episode's patient is: demographics and coverage IDs, kept here and never in
-- Temporal (store/patients.py). The workflow carries only `patient_key`, an opaque random
-- reference; activities that call the payer read the subscriber's data here by episode.
-- One row per started episode (the start names the patient); contact details stay in
-- patient_contacts under the same episode_id.
CREATE TABLE IF NOT EXISTS patients (
    patient_key  text        PRIMARY KEY,
    episode_id   text        NOT NULL UNIQUE,
    program_id   text        NOT NULL,
    mrn          text        NOT NULL,
    display_name text,
    birth_date   date,
    payer_id     text,
    member_id    text,
    -- SHA-256 of the canonical start body as the API received it: a repeated start with
    -- another body is a 409. NULL for a row kept from an older run's carried state.
    start_sha256 text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS patients_program ON patients (program_id);
