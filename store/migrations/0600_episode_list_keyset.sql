-- GET /v1/episodes pages by keyset (store.queries.list_episodes): soonest review first, no
-- review date last, then by episode ID, one expression for the ORDER BY and the "after the
-- cursor" condition, so a page reads `limit` index entries at any depth (no OFFSET).
-- Partial, like the lists it serves (open episodes); one program's list (a key that sees
-- one program, or ?program=) walks the second index in order.
CREATE INDEX IF NOT EXISTS episodes_open_list_order
    ON episodes ((coalesce(next_review_due, 'infinity'::timestamptz)), episode_id)
    WHERE phase <> 'closed';
CREATE INDEX IF NOT EXISTS episodes_open_program_list_order
    ON episodes (program_id, (coalesce(next_review_due, 'infinity'::timestamptz)), episode_id)
    WHERE phase <> 'closed';
