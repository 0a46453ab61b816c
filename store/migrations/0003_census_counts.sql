-- Census counts kept current by triggers on `episodes`, so `store.queries.census` reads
-- ~1,600 small rows instead of aggregating every open episode (see store/INDEXES.md).
--
-- One row per (program, delivered level, phase) of OPEN episodes that has ever been
-- counted; `episodes` may fall to 0 (the row is kept, census skips it) so a group that
-- empties and refills does not churn rows. `level` is '' for "no delivered level yet"
-- (a primary key column cannot be NULL); census maps it back to NULL.
--
-- The triggers are statement-level with transition tables: they fire for the store's
-- upsert (INSERT ... ON CONFLICT fires both the INSERT and the UPDATE trigger), for plain
-- INSERT / UPDATE / DELETE and for COPY, and they run in the writer's own transaction, so
-- the counts commit (or roll back) with the episode rows and always equal
--   SELECT program_id, level_delivered, phase, count(*) FROM episodes
--   WHERE phase <> 'closed' GROUP BY 1, 2, 3
-- in any snapshot. Groups whose net change is 0 (a snapshot that moves nothing, or an
-- older snapshot the upsert skipped) are not touched, so most writes take no count lock.
-- Changed groups are updated in key order, so two writers moving episodes in opposite
-- directions between the same two groups cannot deadlock on the count rows.

CREATE TABLE IF NOT EXISTS census_counts (
    program_id text    NOT NULL,
    level      text    NOT NULL,
    phase      text    NOT NULL,
    -- No CHECK (episodes >= 0): PostgreSQL checks constraints on the row an INSERT ...
    -- ON CONFLICT proposes (the negative delta) before it finds the conflict.
    episodes   integer NOT NULL,
    PRIMARY KEY (program_id, level, phase)
);

-- Writers wait while the triggers are created and the table is backfilled (the migration
-- is one transaction), so no episode change falls between the backfill and the triggers.
LOCK TABLE episodes IN SHARE ROW EXCLUSIVE MODE;

CREATE OR REPLACE FUNCTION carepath_census_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO census_counts AS c (program_id, level, phase, episodes)
    SELECT program_id, coalesce(level_delivered, ''), phase, count(*)::int
    FROM new_episodes
    WHERE phase <> 'closed'
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (program_id, level, phase)
    DO UPDATE SET episodes = c.episodes + EXCLUDED.episodes;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION carepath_census_on_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO census_counts AS c (program_id, level, phase, episodes)
    SELECT program_id, level, phase, sum(delta)::int
    FROM (
        SELECT program_id, coalesce(level_delivered, '') AS level, phase, 1 AS delta
        FROM new_episodes WHERE phase <> 'closed'
        UNION ALL
        SELECT program_id, coalesce(level_delivered, ''), phase, -1
        FROM old_episodes WHERE phase <> 'closed'
    ) moved
    GROUP BY 1, 2, 3
    HAVING sum(delta) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (program_id, level, phase)
    DO UPDATE SET episodes = c.episodes + EXCLUDED.episodes;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION carepath_census_on_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The rows exist (the episodes were counted), so this only ever updates; one
    -- statement in key order, like the others, so it cannot deadlock with them.
    INSERT INTO census_counts AS c (program_id, level, phase, episodes)
    SELECT program_id, coalesce(level_delivered, ''), phase, -count(*)::int
    FROM old_episodes
    WHERE phase <> 'closed'
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (program_id, level, phase)
    DO UPDATE SET episodes = c.episodes + EXCLUDED.episodes;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION carepath_census_on_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM census_counts;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS episodes_census_insert ON episodes;
CREATE TRIGGER episodes_census_insert
    AFTER INSERT ON episodes REFERENCING NEW TABLE AS new_episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_census_on_insert();

DROP TRIGGER IF EXISTS episodes_census_update ON episodes;
CREATE TRIGGER episodes_census_update
    AFTER UPDATE ON episodes REFERENCING OLD TABLE AS old_episodes NEW TABLE AS new_episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_census_on_update();

DROP TRIGGER IF EXISTS episodes_census_delete ON episodes;
CREATE TRIGGER episodes_census_delete
    AFTER DELETE ON episodes REFERENCING OLD TABLE AS old_episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_census_on_delete();

DROP TRIGGER IF EXISTS episodes_census_truncate ON episodes;
CREATE TRIGGER episodes_census_truncate
    AFTER TRUNCATE ON episodes
    FOR EACH STATEMENT EXECUTE FUNCTION carepath_census_on_truncate();

-- Backfill from the episodes already there (under the lock taken above).
DELETE FROM census_counts;
INSERT INTO census_counts (program_id, level, phase, episodes)
SELECT program_id, coalesce(level_delivered, ''), phase, count(*)::int
FROM episodes
WHERE phase <> 'closed'
GROUP BY 1, 2, 3;
