-- Patients' contact details and messaging consent, kept here under the episode's opaque
-- ID and never in Temporal (store/channels/contacts.py). Read by the patient channel at
-- delivery time; the workflow only knows that a patient message is due.
CREATE TABLE IF NOT EXISTS patient_contacts (
    episode_id    text        PRIMARY KEY,
    prefers_sms   boolean     NOT NULL DEFAULT false,
    prefers_email boolean     NOT NULL DEFAULT false,
    phone         text,
    email_address text,
    time_zone     text,
    sms_consent   boolean     NOT NULL DEFAULT true,
    email_consent boolean     NOT NULL DEFAULT true,
    messaging     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS patient_contacts_phone ON patient_contacts (phone)
    WHERE phone IS NOT NULL;

-- Consent changes the patient made by replying (STOP / START): shown on the timeline.
CREATE TABLE IF NOT EXISTS messaging_consent_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id text        NOT NULL,
    channel    text        NOT NULL CHECK (channel IN ('sms', 'email')),
    consented  boolean     NOT NULL,
    keyword    text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messaging_consent_events_episode
    ON messaging_consent_events (episode_id, at);

-- The gateway's ID for each SMS (Twilio MessageSid), so delivery callbacks find the row.
CREATE TABLE IF NOT EXISTS sms_deliveries (
    provider_id text        PRIMARY KEY,
    message_id  text        NOT NULL REFERENCES notification_outbox (message_id),
    accepted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sms_deliveries_message ON sms_deliveries (message_id);

-- Outbox statuses after `sent`: what the gateway later reported.
ALTER TABLE notification_outbox DROP CONSTRAINT IF EXISTS notification_outbox_status_check;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_status_check
    CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'undeliverable'));
ALTER TABLE notification_outbox ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
CREATE INDEX IF NOT EXISTS notification_outbox_attention
    ON notification_outbox (created_at) WHERE status IN ('failed', 'undeliverable');
CREATE INDEX IF NOT EXISTS notification_outbox_episode_sent
    ON notification_outbox (episode_id, sent_at) WHERE sent_at IS NOT NULL;

-- Wake the dispatchers when a message is queued (LISTEN carepath_outbox); a resend
-- notifies by itself. Dispatchers still poll slowly in case a notification is missed.
CREATE OR REPLACE FUNCTION carepath_outbox_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('carepath_outbox', '');
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS notification_outbox_wake ON notification_outbox;
CREATE TRIGGER notification_outbox_wake
    AFTER INSERT ON notification_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_outbox_wake();
