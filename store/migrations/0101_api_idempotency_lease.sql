-- HTTP API: an Idempotency-Key claim holds a lease. A claim whose lease ran out with no
-- answer stored (the API process died, or PostgreSQL failed before the answer was kept)
-- may be claimed again by a retry with the same request, which re-runs it (the workflow
-- dedupes submissions by ID, so a re-run is safe). `claim_token` names the current
-- claim: a late answer or release from an earlier claim changes nothing.
ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS claim_token text;
ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;

-- Claims left in flight before leases existed: give them the default lease from creation.
UPDATE api_idempotency
SET lease_expires_at = created_at + interval '60 seconds'
WHERE status_code IS NULL AND lease_expires_at IS NULL;

-- Answered rows carry no lease; an in-flight row always has one.
ALTER TABLE api_idempotency DROP CONSTRAINT IF EXISTS api_idempotency_in_flight_has_lease;
ALTER TABLE api_idempotency ADD CONSTRAINT api_idempotency_in_flight_has_lease
    CHECK (status_code IS NOT NULL OR lease_expires_at IS NOT NULL);
