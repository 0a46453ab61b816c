-- Indexes for the cross-episode reads, chosen from EXPLAIN ANALYZE on 100k episodes
-- (see store/INDEXES.md). Each names the query it serves.

-- Timeline: one episode's transitions/reviews in order, instead of a parallel seq scan.
CREATE INDEX IF NOT EXISTS transitions_episode_time
    ON transitions (episode_id, at, seq, ordinal);
CREATE INDEX IF NOT EXISTS reviews_episode_time
    ON reviews (episode_id, at, seq, ordinal);

-- Due lists (overdue / due today per program): open episodes only, ordered by due time.
CREATE INDEX IF NOT EXISTS episodes_open_review_due
    ON episodes (program_id, next_review_due)
    WHERE phase <> 'closed' AND next_review_due IS NOT NULL;

-- Census: an index-only scan over open episodes, already grouped by its key order.
CREATE INDEX IF NOT EXISTS episodes_open_census
    ON episodes (program_id, level_delivered, phase)
    WHERE phase <> 'closed';

-- Expiring authorizations, and the episode list's "authorization expiring" EXISTS.
CREATE INDEX IF NOT EXISTS authorizations_end_date ON authorizations (end_date);
CREATE INDEX IF NOT EXISTS authorizations_episode ON authorizations (episode_id);
