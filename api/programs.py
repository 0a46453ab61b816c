"""Which program an episode belongs to, for the per-key program check before any work.

An episode's program never changes, so answers are cached. PostgreSQL is asked first
(cheap); an episode the records do not show yet is asked of the workflow itself.
"""

from __future__ import annotations

from collections import OrderedDict

from api.episode_records import EpisodeRecords
from api.episodes_client import EpisodeClient
from api.mutations import records_call


class ProgramLookup:
    def __init__(
        self, records: EpisodeRecords, episodes: EpisodeClient, size: int = 50_000
    ) -> None:
        self._records = records
        self._episodes = episodes
        self._size = size
        self._known: OrderedDict[str, str] = OrderedDict()

    def remember(self, episode_id: str, program_id: str) -> None:
        self._known[episode_id] = program_id
        self._known.move_to_end(episode_id)
        while len(self._known) > self._size:
            self._known.popitem(last=False)

    async def program_of(self, episode_id: str) -> str:
        """The episode's program; 404 problem for an unknown episode."""
        known = self._known.get(episode_id)
        if known is not None:
            return known
        program = await records_call(self._records.program_of(episode_id))
        if program is None:
            program = (await self._episodes.state(episode_id)).program_id
        self.remember(episode_id, program)
        return program
