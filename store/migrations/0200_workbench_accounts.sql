-- Workbench sign-in for people (api/workbench): accounts, their sessions, and the
-- sign-in audit. Owned by the workbench. No patient data: accounts are staff, and a
-- session row holds only hashes of its secrets.

-- One row per person. role and programs mean what they mean for API keys
-- ('*' in programs = every program); actor is recorded on everything they submit.
CREATE TABLE IF NOT EXISTS web_accounts (
    account_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text        NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    display_name    text        NOT NULL,
    role            text        NOT NULL CHECK (role IN
                        ('care-team', 'utilization-review', 'supervisor', 'program-admin',
                         'operator')),
    programs        text[]      NOT NULL CHECK (cardinality(programs) > 0),
    actor           text        NOT NULL UNIQUE,
    password_hash   text        NOT NULL,
    failed_attempts integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    disabled        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A signed-in browser. The cookie carries a random token; only its SHA-256 is stored.
-- Idle and absolute limits are settings, checked on every request.
CREATE TABLE IF NOT EXISTS web_sessions (
    token_hash   text        PRIMARY KEY,
    account_id   bigint      NOT NULL REFERENCES web_accounts (account_id),
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ended_at     timestamptz,
    end_reason   text
);
CREATE INDEX IF NOT EXISTS web_sessions_account ON web_sessions (account_id);

-- Sign-in, sign-out, failures, lockouts and timeouts. Append-only.
CREATE TABLE IF NOT EXISTS web_auth_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    event      text        NOT NULL CHECK (event IN
                   ('sign_in', 'sign_out', 'sign_in_failed', 'locked_out', 'idle_timeout',
                    'session_expired')),
    account_id bigint      REFERENCES web_accounts (account_id),
    username   text        NOT NULL,
    client     text
);
CREATE INDEX IF NOT EXISTS web_auth_events_account ON web_auth_events (account_id, at);

DROP TRIGGER IF EXISTS web_auth_events_append_only ON web_auth_events;
CREATE TRIGGER web_auth_events_append_only
    BEFORE UPDATE OR DELETE ON web_auth_events
    FOR EACH ROW EXECUTE FUNCTION carepath_reject_change();
