-- Every item answer of a review's PHQ-9 and GAD-7 (issue 13, FHIR): the workflow's records
-- carried only the PHQ-9 total and item 9 and the GAD-7 total, so a review's
-- QuestionnaireResponse could hold only those. Rows written before this stay NULL (their
-- response keeps the total-only shape). Each array is one dimension, of the instrument's
-- length, every answer 0-3 and none NULL; the PHQ-9's ninth is the row's item 9.
ALTER TABLE reviews
    ADD COLUMN IF NOT EXISTS phq9_items smallint[]
        CONSTRAINT reviews_phq9_items_check CHECK (
            phq9_items IS NULL OR (
                array_ndims(phq9_items) = 1 AND array_lower(phq9_items, 1) = 1
                AND cardinality(phq9_items) = 9
                AND array_position(phq9_items, NULL) IS NULL
                AND 0 <= ALL (phq9_items) AND 3 >= ALL (phq9_items)
                AND (phq9_item9 IS NULL OR phq9_items[9] = phq9_item9)
            )
        ),
    ADD COLUMN IF NOT EXISTS gad7_items smallint[]
        CONSTRAINT reviews_gad7_items_check CHECK (
            gad7_items IS NULL OR (
                array_ndims(gad7_items) = 1 AND array_lower(gad7_items, 1) = 1
                AND cardinality(gad7_items) = 7
                AND array_position(gad7_items, NULL) IS NULL
                AND 0 <= ALL (gad7_items) AND 3 >= ALL (gad7_items)
            )
        );
