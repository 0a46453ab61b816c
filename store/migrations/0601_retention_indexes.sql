-- The retention job (store/retention.py) deletes by age in small batches; these indexes
-- let each batch find its oldest rows without scanning the table. api_idempotency has its
-- index on created_at already (0100).
CREATE INDEX IF NOT EXISTS applied_batches_applied_at ON applied_batches (applied_at);
CREATE INDEX IF NOT EXISTS notification_outbox_sent_at
    ON notification_outbox (sent_at) WHERE status IN ('sent', 'delivered');
