"""Pydantic v2 models shared by API bodies, workflow payloads and database rows.

No asyncpg, FastAPI or Temporal imports here: the workflow sandbox passes these through.
"""
