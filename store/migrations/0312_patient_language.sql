-- The patient's language (BCP 47, from the start's contact preferences), beside the other
-- contact details: the questionnaire page shows the program's translation for it when
-- there is one (api/workbench/patient_text.py), else English. Never sent to Temporal.
ALTER TABLE patient_contacts ADD COLUMN IF NOT EXISTS language text;
