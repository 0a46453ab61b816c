-- The program report (store/outcomes_report.py) reads a program's episodes open at any
-- time in the period: program, then start, so the cohort is one index range scan; the
-- per-episode histories use transitions_episode_time / reviews_episode_time (0002) and
-- attendance_episode (0400). EXPLAIN ANALYZE on 100k episodes: BENCHMARKS.md.
CREATE INDEX IF NOT EXISTS episodes_program_started
    ON episodes (program_id, started_at) INCLUDE (closed_at);
