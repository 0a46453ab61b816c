-- Liveness of background loops (the outbox dispatcher), for /readyz and operators.
-- One row per loop instance (e.g. per worker process); each completed pass moves
-- last_pass_at (throttled by the loop). A row whose time stops moving is a dead loop.
CREATE TABLE IF NOT EXISTS service_heartbeats (
    service      text        NOT NULL,
    instance     text        NOT NULL,
    last_pass_at timestamptz NOT NULL,
    PRIMARY KEY (service, instance)
);
