-- The IOP week: groups with a weekly schedule, their dated sessions, which episodes sit
-- in which group (or wait for a seat), and attendance per (session, episode) with every
-- earlier value kept. Owned by store/groups.py and store/attendance.py. No PHI: episodes
-- are opaque IDs, facilitators opaque references.

-- A program's attendance settings (rules/attendance_policy.py); absent = the defaults.
CREATE TABLE IF NOT EXISTS program_attendance_policy (
    program_id  text        PRIMARY KEY,
    policy      jsonb       NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS care_groups (
    group_id         text        PRIMARY KEY,
    program_id       text        NOT NULL,
    name             text        NOT NULL,
    level            text        NOT NULL CHECK (level IN ('op', 'iop', 'php')),
    weekdays         smallint[]  NOT NULL CHECK (cardinality(weekdays) BETWEEN 1 AND 7
                                                 AND weekdays <@ '{1,2,3,4,5,6,7}'),
    start_time       time        NOT NULL,
    duration_minutes integer     NOT NULL CHECK (duration_minutes BETWEEN 15 AND 720),
    modality         text        NOT NULL CHECK (modality IN ('in_person', 'telehealth')),
    capacity         integer     NOT NULL CHECK (capacity BETWEEN 1 AND 100),
    facilitator_ref  text        NOT NULL,
    time_zone        text        NOT NULL,
    created_at       timestamptz NOT NULL,
    -- Sessions exist up to this day (inclusive); generation continues from the next.
    generated_through date
);
CREATE INDEX IF NOT EXISTS care_groups_program ON care_groups (program_id, level);

CREATE TABLE IF NOT EXISTS group_sessions (
    session_id       text        PRIMARY KEY,
    group_id         text        NOT NULL REFERENCES care_groups (group_id),
    session_date     date        NOT NULL,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer     NOT NULL CHECK (duration_minutes BETWEEN 15 AND 720),
    modality         text        NOT NULL CHECK (modality IN ('in_person', 'telehealth')),
    kind             text        NOT NULL CHECK (kind IN ('scheduled', 'ad_hoc')),
    cancelled_at     timestamptz,
    cancel_reason    text,
    cancelled_by     text,
    UNIQUE (group_id, starts_at)
);
CREATE INDEX IF NOT EXISTS group_sessions_day ON group_sessions (group_id, session_date);

-- One open row (assigned or waiting) per (group, episode); ended rows are history.
CREATE TABLE IF NOT EXISTS group_assignments (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id     text        NOT NULL REFERENCES care_groups (group_id),
    episode_id   text        NOT NULL,
    level        text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('assigned', 'waiting', 'ended')),
    requested_at timestamptz NOT NULL,
    assigned_at  timestamptz,
    ended_at     timestamptz,
    end_reason   text,
    CHECK (status <> 'assigned' OR (assigned_at IS NOT NULL AND ended_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS group_assignments_open
    ON group_assignments (group_id, episode_id) WHERE status <> 'ended';
CREATE INDEX IF NOT EXISTS group_assignments_episode ON group_assignments (episode_id);
CREATE INDEX IF NOT EXISTS group_assignments_waiting
    ON group_assignments (group_id, requested_at, id) WHERE status = 'waiting';

-- The current value per (session, episode); revision counts corrections.
CREATE TABLE IF NOT EXISTS attendance (
    session_id   text        NOT NULL REFERENCES group_sessions (session_id),
    episode_id   text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('attended', 'partial', 'no_show', 'excused')),
    minutes      integer     NOT NULL CHECK (minutes BETWEEN 0 AND 720),
    modality     text        NOT NULL CHECK (modality IN ('in_person', 'telehealth')),
    revision     integer     NOT NULL DEFAULT 1,
    recorded_by  text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (session_id, episode_id)
);
CREATE INDEX IF NOT EXISTS attendance_episode ON attendance (episode_id);

-- Append-only: every value ever recorded, with who and (for a correction) why.
CREATE TABLE IF NOT EXISTS attendance_audit (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id   text        NOT NULL,
    episode_id   text        NOT NULL,
    revision     integer     NOT NULL,
    status       text        NOT NULL,
    minutes      integer     NOT NULL,
    modality     text        NOT NULL,
    recorded_by  text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    reason       text,
    UNIQUE (session_id, episode_id, revision)
);
CREATE INDEX IF NOT EXISTS attendance_audit_episode ON attendance_audit (episode_id, recorded_at);
DROP TRIGGER IF EXISTS attendance_audit_append_only ON attendance_audit;
CREATE TRIGGER attendance_audit_append_only BEFORE UPDATE OR DELETE ON attendance_audit
    FOR EACH ROW EXECUTE FUNCTION carepath_reject_change();

-- Seats free in a group go to the waiting list, longest waiting first. One function for
-- the API (a seat freed, capacity raised) and the trigger below (a level change).
CREATE OR REPLACE FUNCTION carepath_fill_group_seats(target text, at timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    free integer;
    moved integer;
BEGIN
    SELECT g.capacity - count(a.id) INTO free
      FROM care_groups g
      LEFT JOIN group_assignments a ON a.group_id = g.group_id AND a.status = 'assigned'
     WHERE g.group_id = target
     GROUP BY g.capacity;
    IF free IS NULL OR free <= 0 THEN
        RETURN 0;
    END IF;
    WITH nxt AS (
        SELECT id FROM group_assignments
         WHERE group_id = target AND status = 'waiting'
         ORDER BY requested_at, id
         LIMIT free
         FOR UPDATE
    )
    UPDATE group_assignments a SET status = 'assigned', assigned_at = at
      FROM nxt WHERE a.id = nxt.id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END;
$$;

-- A level change ends the episode's groups of another level; a discharge or closure ends
-- all of them. Freed seats go to the waiting list at once.
CREATE OR REPLACE FUNCTION carepath_end_groups_on_level_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    freed text;
BEGIN
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
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS episodes_end_groups ON episodes;
CREATE TRIGGER episodes_end_groups
    AFTER UPDATE OF level_delivered, phase ON episodes
    FOR EACH ROW
    WHEN (OLD.level_delivered IS DISTINCT FROM NEW.level_delivered
          OR (NEW.phase IN ('aftercare', 'closed') AND OLD.phase IS DISTINCT FROM NEW.phase))
    EXECUTE FUNCTION carepath_end_groups_on_level_change();
