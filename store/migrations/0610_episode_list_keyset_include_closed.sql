-- GET /v1/episodes?include_closed=true pages by the same keyset as the open list
-- (store.queries.list_episodes: coalesce(next_review_due, 'infinity'), episode_id) but
-- without `phase <> 'closed'`, so the partial indexes of 0600 cannot serve it: without
-- these, every page sorted the whole table (or one program's rows) to find its 51 rows.
-- Full indexes on the same expression: a page reads `limit` index entries at any depth,
-- the closed episodes (no review date) last. EXPLAIN ANALYZE in BENCHMARKS.md.
CREATE INDEX IF NOT EXISTS episodes_list_order
    ON episodes ((coalesce(next_review_due, 'infinity'::timestamptz)), episode_id);
CREATE INDEX IF NOT EXISTS episodes_program_list_order
    ON episodes (program_id, (coalesce(next_review_due, 'infinity'::timestamptz)), episode_id);
