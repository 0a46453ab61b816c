-- The Today page's five episode counts (store/worklists.py today_page) kept by triggers on
-- `episodes`, as census_counts (0003) keeps the census: the page reads a few hundred
-- small rows instead of passing over every open episode (~2-3 ms at 10,000).
--
-- One row per (program, UTC day the next review is due, risk flag, in aftercare) of OPEN
-- episodes; `due_day` is 'infinity' for "no review due" (a primary key column cannot be
-- NULL). The risk and aftercare counts are sums of rows; "reviews due before t" (overdue
-- at t = now; due today and this week as differences of two such counts) is the sum of
-- the rows of the days before t's UTC day plus a count of t's own day's episodes due
-- before t, read from episodes_open_due_order: at most one day's episodes.
--
-- Like census_counts: statement-level triggers with transition tables (the store's
-- upsert fires both INSERT and UPDATE; plain SQL and COPY fire them too), in the
-- writer's transaction, so in any snapshot the rows equal
--   SELECT program_id, coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity'),
--          risk_flag, phase = 'aftercare', count(*)
--   FROM episodes WHERE phase <> 'closed' GROUP BY 1, 2, 3, 4
-- (tests/store/test_store_today_counts.py). Keys whose net change is 0 are not touched
-- (most writes move nothing here and take no lock); changed keys are upserted in key
-- order (no deadlock between two writers). Unlike census_counts, a row that falls to 0
-- is deleted: days pass, and a count table that kept every past day would grow forever.

CREATE TABLE IF NOT EXISTS today_counts (
    program_id text    NOT NULL,
    due_day    date    NOT NULL,
    risk       boolean NOT NULL,
    aftercare  boolean NOT NULL,
    -- No CHECK (episodes >= 0), as in census_counts: INSERT ... ON CONFLICT checks the
    -- row it proposes (a negative delta) before it finds the conflict.
    episodes   integer NOT NULL,
    PRIMARY KEY (program_id, due_day, risk, aftercare)
);

-- Writers wait while the triggers are created and the table is backfilled (one
-- transaction), so no episode change falls between the backfill and the triggers.
LOCK TABLE episodes IN SHARE ROW EXCLUSIVE MODE;

CREATE OR REPLACE FUNCTION carepath_today_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO today_counts AS c (program_id, due_day, risk, aftercare, episodes)
    SELECT program_id, coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity'),
        risk_flag, phase = 'aftercare', count(*)::int
    FROM new_episodes
    WHERE phase <> 'closed'
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (program_id, due_day, risk, aftercare)
    DO UPDATE SET episodes = c.episodes + EXCLUDED.episodes;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION carepath_today_on_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO today_counts AS c (program_id, due_day, risk, aftercare, episodes)
    SELECT program_id, due_day, risk, aftercare, sum(delta)::int
    FROM (
        SELECT program_id,
            coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity') AS due_day,
            risk_flag AS risk, phase = 'aftercare' AS aftercare, 1 AS delta
        FROM new_episodes WHERE phase <> 'closed'
        UNION ALL
        SELECT program_id, coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity'),
            risk_flag, phase = 'aftercare', -1
        FROM old_episodes WHERE phase <> 'closed'
    ) moved
    GROUP BY 1, 2, 3, 4
    HAVING sum(delta) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (program_id, due_day, risk, aftercare)
    DO UPDATE SET episodes = c.episodes + EXCLUDED.episodes;
    -- Only a decrement makes a 0, and only on a key an old row had; those rows are
    -- already locked by the statement above.
    DELETE FROM today_counts c
    USING (
        SELECT DISTINCT program_id,
            coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity') AS due_day,
            risk_flag AS risk, phase = 'aftercare' AS aftercare
        FROM old_episodes WHERE phase <> 'closed'
    ) emptied
    WHERE c.episodes = 0 AND c.program_id = emptied.program_id
        AND c.due_day = emptied.due_day AND c.risk = emptied.risk
        AND c.aftercare = emptied.aftercare;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION carepath_today_on_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO today_counts AS c (program_id, due_day, risk, aftercare, episodes)
    SELECT program_id, coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity'),
        risk_flag, phase = 'aftercare', -count(*)::int
    FROM old_episodes
    WHERE phase <> 'closed'
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (program_id, due_day, risk, aftercare)
    DO UPDATE SET episodes = c.episodes + EXCLUDED.episodes;
    DELETE FROM today_counts c
    USING (
        SELECT DISTINCT program_id,
            coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity') AS due_day,
            risk_flag AS risk, phase = 'aftercare' AS aftercare
        FROM old_episodes WHERE phase <> 'closed'
    ) emptied
    WHERE c.episodes = 0 AND c.program_id = emptied.program_id
        AND c.due_day = emptied.due_day AND c.risk = emptied.risk
        AND c.aftercare = emptied.aftercare;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION carepath_today_on_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM today_counts;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS episodes_today_insert ON episodes;
CREATE TRIGGER episodes_today_insert
    AFTER INSERT ON episodes REFERENCING NEW TABLE AS new_episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_today_on_insert();

DROP TRIGGER IF EXISTS episodes_today_update ON episodes;
CREATE TRIGGER episodes_today_update
    AFTER UPDATE ON episodes REFERENCING OLD TABLE AS old_episodes NEW TABLE AS new_episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_today_on_update();

DROP TRIGGER IF EXISTS episodes_today_delete ON episodes;
CREATE TRIGGER episodes_today_delete
    AFTER DELETE ON episodes REFERENCING OLD TABLE AS old_episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_today_on_delete();

DROP TRIGGER IF EXISTS episodes_today_truncate ON episodes;
CREATE TRIGGER episodes_today_truncate
    AFTER TRUNCATE ON episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_today_on_truncate();

-- Backfill from the episodes already there (under the lock taken above).
DELETE FROM today_counts;
INSERT INTO today_counts (program_id, due_day, risk, aftercare, episodes)
SELECT program_id, coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity'),
    risk_flag, phase = 'aftercare', count(*)::int
FROM episodes
WHERE phase <> 'closed'
GROUP BY 1, 2, 3, 4;
