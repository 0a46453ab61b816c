-- Why a follow-up due today was not sent (store/followups.py): the patient declined
-- messages at the start, has no consented channel with an address, or no contact details
-- on file. Set by the follow-up job on the due day (and kept when the window then closes
-- as 'no_response'), cleared if the follow-up is sent after all; NULL otherwise. The care
-- team sees it on the episode's timeline and page: nothing is skipped silently.
ALTER TABLE followup_measures ADD COLUMN IF NOT EXISTS not_sent_reason text;
