-- The groups API's writes (groups, sessions, rosters, a program's attendance policy) are
-- audited and honour Idempotency-Key like the episode writes. They change a group, a
-- session or a program rather than one episode: the row names that in `subject` (an id,
-- never a patient identifier), and `episode_id` only when the call is about one episode
-- (an assignment). Every row names one or the other; episode rows are unchanged.
ALTER TABLE api_calls ALTER COLUMN episode_id DROP NOT NULL;
ALTER TABLE api_calls ADD COLUMN IF NOT EXISTS subject text;
ALTER TABLE api_calls DROP CONSTRAINT IF EXISTS api_calls_names_what;
ALTER TABLE api_calls ADD CONSTRAINT api_calls_names_what
    CHECK (episode_id IS NOT NULL OR subject IS NOT NULL);
CREATE INDEX IF NOT EXISTS api_calls_subject ON api_calls (subject, at)
    WHERE subject IS NOT NULL;
