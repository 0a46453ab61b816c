-- Issue 10 item 2: a level change MOVES the episode: its groups of the old level end (as
-- before) and it is seated in groups of the new level of its program and population, as
-- many as it had (the ones with most free seats first), or put on a group's waiting list
-- when it is full. A discharge or closure only ends them. Freed seats go to the waiting
-- list at once. Replaces the function of 0400 (its trigger stays as it is).
CREATE OR REPLACE FUNCTION carepath_end_groups_on_level_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    freed text;
    moving integer := 0;
    population text;
    target text;
    free integer;
BEGIN
    IF NEW.phase NOT IN ('aftercare', 'closed') AND NEW.level_delivered IN ('op', 'iop', 'php') THEN
        SELECT count(*), min(g.age_group) INTO moving, population
          FROM group_assignments a JOIN care_groups g ON g.group_id = a.group_id
         WHERE a.episode_id = NEW.episode_id AND a.status <> 'ended'
           AND a.level <> NEW.level_delivered;
    END IF;
    FOR freed IN
        UPDATE group_assignments
           SET status = 'ended', ended_at = NEW.updated_at,
               end_reason = CASE WHEN NEW.phase IN ('aftercare', 'closed') THEN 'discharged'
                                 ELSE 'level_changed' END
         WHERE episode_id = NEW.episode_id AND status <> 'ended'
           AND (NEW.phase IN ('aftercare', 'closed')
                OR NEW.level_delivered IS NULL OR level <> NEW.level_delivered)
        RETURNING group_id
    LOOP
        PERFORM carepath_fill_group_seats(freed, NEW.updated_at);
    END LOOP;
    IF moving > 0 THEN
        FOR target IN
            SELECT g.group_id
              FROM care_groups g
              LEFT JOIN group_assignments a ON a.group_id = g.group_id AND a.status = 'assigned'
             WHERE g.program_id = NEW.program_id AND g.level = NEW.level_delivered
               AND g.age_group = population
               AND NOT EXISTS (SELECT 1 FROM group_assignments o
                                WHERE o.group_id = g.group_id AND o.episode_id = NEW.episode_id
                                  AND o.status <> 'ended')
             GROUP BY g.group_id, g.capacity
             ORDER BY g.capacity - count(a.id) DESC, g.group_id
             LIMIT moving
        LOOP
            PERFORM 1 FROM care_groups WHERE group_id = target FOR UPDATE;
            SELECT g.capacity - count(a.id) INTO free
              FROM care_groups g
              LEFT JOIN group_assignments a ON a.group_id = g.group_id AND a.status = 'assigned'
             WHERE g.group_id = target
             GROUP BY g.capacity;
            INSERT INTO group_assignments (group_id, episode_id, level, status, requested_at,
                   assigned_at)
            VALUES (target, NEW.episode_id, NEW.level_delivered,
                    CASE WHEN free > 0 THEN 'assigned' ELSE 'waiting' END,
                    NEW.updated_at, CASE WHEN free > 0 THEN NEW.updated_at END);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
