"""Pure care rules: levels, phases, the transition table, scoring and schedules.

Nothing here does I/O or imports Temporal, so the workflow, the API and the database
schema can all read the same facts, and each rule is unit-tested on its own.
"""
