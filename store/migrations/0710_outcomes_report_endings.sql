-- The program report (store/outcomes_report.py) finds each episode's end of treatment,
-- its first move to aftercare or closed, among the few transitions into those phases:
-- an index by phase reaches them without a scan of every transition (or one index probe
-- per episode of the program). EXPLAIN ANALYZE on 100k episodes: BENCHMARKS.md.
CREATE INDEX IF NOT EXISTS transitions_into_phase
    ON transitions (to_phase, episode_id, at, seq, ordinal);
