-- A care-team task outlives its message: retention deletes sent outbox rows after
-- `retention_outbox_sent_days`, while the task (and its timeline) stays. The task keeps
-- the message ID as a plain reference (no foreign key, which would block that deletion).
ALTER TABLE care_team_tasks DROP CONSTRAINT IF EXISTS care_team_tasks_message_id_fkey;
