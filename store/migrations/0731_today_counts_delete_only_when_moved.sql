-- today_counts (0730): the update trigger looks for rows that fell to 0 only when its
-- upsert changed a row. Most updates of `episodes` (a snapshot that keeps its phase, risk
-- flag and review day, a late or replayed batch) move no count, and 0730's version still
-- probed the count rows of every old row's key for a 0 on each of them.

CREATE OR REPLACE FUNCTION carepath_today_on_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
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
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
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
    END IF;
    RETURN NULL;
END;
$$;
