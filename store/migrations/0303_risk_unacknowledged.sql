-- The open risk flag's urgent alert still awaiting a care-team acknowledgement (issue 12's
-- safety net), on the episodes row so the workbench's Today list can say which.
ALTER TABLE episodes ADD COLUMN IF NOT EXISTS risk_unacknowledged boolean NOT NULL DEFAULT false;
