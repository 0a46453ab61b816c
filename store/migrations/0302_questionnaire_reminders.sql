-- One reminder per questionnaire link (store/channels/links.py): the reminder message is
-- queued in the outbox when the link's first message goes, due a policy delay later
-- (default 2 days), and carries a token of its own for the same link, so the first
-- message's link keeps working. Only the token's SHA-256 is kept, as for the first.
ALTER TABLE questionnaire_links ADD COLUMN IF NOT EXISTS reminder_token_hash bytea UNIQUE;
ALTER TABLE questionnaire_links ADD COLUMN IF NOT EXISTS reminded_at timestamptz;
