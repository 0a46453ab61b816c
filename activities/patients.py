"""The in-memory `PatientDirectory` (tests, benchmarks); the real one is PostgreSQL's
(store/patients.py `PostgresPatients`)."""

from __future__ import annotations

from datetime import date

from schemas.episode import EpisodeStart
from schemas.payer import Subscriber
from store.patients import PatientRecord, adult_from, subscriber_of


class InMemoryPatients:
    def __init__(self, subscribers: dict[str, Subscriber] | None = None) -> None:
        self.subscribers: dict[str, Subscriber] = dict(subscribers or {})
        self.adults: dict[str, date] = {}
        self.coverages: dict[tuple[str, str], str] = {}
        self.lookups: list[str] = []  # subscriber look-ups, by episode
        self.age_lookups: list[str] = []
        self.kept: dict[str, EpisodeStart] = {}

    def register(self, start: EpisodeStart) -> str:
        """What the API writes before a start reaches Temporal (`register_start`): the
        subscriber and the 18th birthday, by episode; returns the opaque patient key."""
        coverage = start.coverage
        record = PatientRecord(
            patient_key=f"pt_mem_{start.episode_id}",
            episode_id=start.episode_id,
            program_id=start.program_id,
            mrn=start.patient.patient_ref,
            display_name=start.patient.name,
            birth_date=start.patient.birth_date,
            payer_id=coverage.payer_id if coverage else None,
            member_id=coverage.member_id if coverage else None,
            adult_on=start.adult_on,
        )
        self.subscribers[start.episode_id] = subscriber_of(record)
        first_adult_day = adult_from(record)
        if first_adult_day is not None:
            self.adults[start.episode_id] = first_adult_day
        return record.patient_key

    async def subscriber(
        self, episode_id: str, coverage_ref: str | None = None
    ) -> Subscriber | None:
        self.lookups.append(episode_id)
        found = self.subscribers.get(episode_id)
        changed = self.coverages.get((episode_id, coverage_ref)) if coverage_ref else None
        if found is None or changed is None:
            return found
        return found.model_copy(update={"member_id": changed})

    def keep_coverage(self, episode_id: str, submission_id: str, member_id: str) -> None:
        """A coverage change's member ID, as the API keeps it before the update."""
        self.coverages.setdefault((episode_id, submission_id), member_id)

    async def adult_from(self, episode_id: str) -> date | None:
        self.age_lookups.append(episode_id)
        return self.adults.get(episode_id)

    async def keep_carried(self, start: EpisodeStart) -> str:
        self.kept.setdefault(start.episode_id, start)
        if start.adult_on is not None:
            self.adults.setdefault(start.episode_id, start.adult_on)
        member_id = start.coverage.member_id if start.coverage else None
        found = self.subscribers.get(start.episode_id) or Subscriber()
        if member_id is not None and found.member_id is None:
            self.subscribers[start.episode_id] = found.model_copy(update={"member_id": member_id})
        return f"pt_mem_{start.episode_id}"
