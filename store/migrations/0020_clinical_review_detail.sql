-- Clinical detail kept on review rows (issue 14): the C-SSRS screener's six answers and
-- its triage (not only a high-risk boolean), the structured safety-assessment result that
-- clears the risk flag, and follow-up visits after an inpatient stay (HEDIS FUH).
ALTER TABLE reviews
    ADD COLUMN IF NOT EXISTS cssrs_answers boolean[]
        CHECK (cssrs_answers IS NULL OR cardinality(cssrs_answers) = 6),
    ADD COLUMN IF NOT EXISTS cssrs_behaviour_past_3_months boolean,
    ADD COLUMN IF NOT EXISTS cssrs_risk text
        CHECK (cssrs_risk IS NULL OR cssrs_risk IN ('none', 'low', 'moderate', 'high')),
    ADD COLUMN IF NOT EXISTS safety_instrument text,
    ADD COLUMN IF NOT EXISTS safety_result text
        CHECK (safety_result IS NULL OR safety_result IN ('none', 'low', 'moderate', 'high')),
    ADD COLUMN IF NOT EXISTS safety_plan text,
    ADD COLUMN IF NOT EXISTS visit_date date,
    ADD COLUMN IF NOT EXISTS visit_kind text;
