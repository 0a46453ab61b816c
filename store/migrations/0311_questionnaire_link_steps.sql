-- A reassessment link asks more than one questionnaire (store/channels/links.py): the
-- engine asks for the PHQ-9 and the link asks the PHQ-9, then the GAD-7. `instruments` is
-- the link's sequence (NULL: `instrument` alone, as for links made before this migration
-- and for the follow-ups after closure); `step` is how many of them were answered. The
-- link is used once its last step is answered.
ALTER TABLE questionnaire_links ADD COLUMN IF NOT EXISTS instruments text[]
    CHECK (instruments IS NULL
           OR (cardinality(instruments) >= 1 AND instruments <@ ARRAY['phq9', 'gad7']));
ALTER TABLE questionnaire_links ADD COLUMN IF NOT EXISTS step smallint NOT NULL DEFAULT 0
    CHECK (step >= 0);
