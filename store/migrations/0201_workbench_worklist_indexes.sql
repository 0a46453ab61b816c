-- Today's worklists for a person who sees every program (store/worklists.today_lists):
-- open episodes in review-due order, the risk-flagged ones, those in aftercare. Partial,
-- so closed episodes cost nothing; one program's lists use episodes_open_review_due (0002).
CREATE INDEX IF NOT EXISTS episodes_open_due_order
    ON episodes (next_review_due, episode_id) WHERE phase <> 'closed';
CREATE INDEX IF NOT EXISTS episodes_open_risk_due_order
    ON episodes (next_review_due, episode_id) WHERE phase <> 'closed' AND risk_flag;
CREATE INDEX IF NOT EXISTS episodes_aftercare_due_order
    ON episodes (next_review_due, episode_id) WHERE phase = 'aftercare';
