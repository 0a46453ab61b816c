-- An adolescent's 18th birthday when the start gives it without a birth date (the start's
-- `adult_on`): kept with the patient, never in Temporal. The worker's age-group activity
-- reads it (or the birth date) by episode (store/patients.py `adult_from`, engine V4).
ALTER TABLE patients ADD COLUMN IF NOT EXISTS adult_on date;
