-- Concurrent-review packets (store/review_packets.py): assembled by the records writer in
-- the transaction that records a concurrent-review request, from the care records only;
-- never in Temporal. A packet without the patient's disclosure consent on file is kept
-- as 'withheld_no_consent' with no content, so UR sees why there is none.

-- What the episode's start said about disclosure to the payer (written by the API's start
-- route; the workflow's input keeps its own copy). A consent obtained later is the
-- transition 'disclosure_consent_recorded'.
CREATE TABLE IF NOT EXISTS episode_disclosure_terms (
    episode_id        text        PRIMARY KEY,
    program_id        text        NOT NULL,
    part2_program     boolean     NOT NULL,
    payer_disclosure  boolean     NOT NULL,
    recorded_at       timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS review_packets (
    packet_id            text        PRIMARY KEY,
    episode_id           text        NOT NULL REFERENCES episodes (episode_id),
    program_id           text        NOT NULL,
    workflow_id          text        NOT NULL,
    seq                  bigint      NOT NULL,
    -- The payer request it is attached to: the authorization row the request updated.
    authorization_id     bigint      REFERENCES authorizations (id),
    authorization_number text,
    requested_at         timestamptz NOT NULL,
    status               text        NOT NULL
                                     CHECK (status IN ('assembled', 'withheld_no_consent')),
    part2_program        boolean     NOT NULL,
    content              jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'assembled') = (content IS NOT NULL)),
    UNIQUE (workflow_id, seq)
);
CREATE INDEX IF NOT EXISTS review_packets_episode ON review_packets (episode_id, requested_at);

-- Every download, append-only: who, as what, which packet, in which format.
CREATE TABLE IF NOT EXISTS review_packet_downloads (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    packet_id   text        NOT NULL REFERENCES review_packets (packet_id),
    actor       text        NOT NULL,
    role        text        NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('api', 'workbench')),
    format      text        NOT NULL CHECK (format IN ('pdf', 'fhir')),
    at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS review_packet_downloads_packet ON review_packet_downloads (packet_id, at);
DROP TRIGGER IF EXISTS review_packet_downloads_append_only ON review_packet_downloads;
CREATE TRIGGER review_packet_downloads_append_only BEFORE UPDATE OR DELETE ON review_packet_downloads
    FOR EACH ROW EXECUTE FUNCTION carepath_reject_change();
