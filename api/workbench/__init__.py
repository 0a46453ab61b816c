"""The care-team workbench: server-rendered pages under `/app` on the API process.

`mount_workbench` (web.py) adds them to the API's FastAPI app; accounts and sessions
(accounts.py, sessions.py) are people's sign-in; pages.py and forms.py are the pages.
Later pages (IOP week, patient questionnaires, outcomes) add a router the same way.
"""
