-- The start's `consents.messaging` beside the contact details (the workflow keeps its own
-- copy and sends the patient nothing without it): the follow-up job (store/followups.py)
-- runs after the workflow has ended and must not message a patient who declined. Rows
-- stored before this migration keep the start's default (true).
ALTER TABLE patient_contacts ADD COLUMN IF NOT EXISTS messaging_consent boolean NOT NULL
    DEFAULT true;
