"""Serving suggestions: one event's lists are computed once and kept per process.

A cached computation is used while the event's network version (bumped in SQL by every
profile, contact, block and partnering write, from any process) is unchanged and it is
younger than ``max_age`` — live votes feed co-voting without a version bump, so they are
folded in within that time. Each served list is filtered again against the attendee's
current contacts and blocks, so a stale cache never suggests someone just blocked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from eventapp.core.db import Database
from eventapp.networking import queries as store
from eventapp.networking.matching import Suggestions, load_and_compute
from eventapp.networking.queries import Person
from eventapp.networking.reasons import Reason, explain

# Below this many opted-in attendees a recomputation takes a fraction of a second and is
# done inline; above it, stale lists are served while a background task recomputes.
SYNC_LIMIT = 2000


@dataclass(frozen=True)
class Suggestion:
    person: Person
    score: float
    reasons: list[Reason]


@dataclass
class _Entry:
    version: int
    made: float
    suggestions: Suggestions


@dataclass
class SuggestionCache:
    db: Database
    max_age: float = 60.0
    _entries: dict[int, _Entry] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _refreshing: dict[int, asyncio.Task[Suggestions]] = field(default_factory=dict)

    async def event(self, event_id: int) -> Suggestions:
        version = await self.db.run_read(store.network_version, event_id)
        entry = self._entries.get(event_id)
        if entry is not None and entry.version == version and self._fresh(entry):
            return entry.suggestions
        if entry is not None and len(entry.suggestions.features.ids) >= SYNC_LIMIT:
            # A big hall takes seconds to recompute: keep serving the previous lists
            # (filtered per request, so never someone just blocked) while one task
            # refreshes them in the background.
            if event_id not in self._refreshing:
                task = asyncio.create_task(self._compute(event_id))
                self._refreshing[event_id] = task
                task.add_done_callback(lambda _t: self._refreshing.pop(event_id, None))
            return entry.suggestions
        return await self._compute(event_id)

    async def _compute(self, event_id: int) -> Suggestions:
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        async with lock:
            # Read the version before the data: a write landing meanwhile makes this entry
            # look stale next time, never fresh when it is not.
            version = await self.db.run_read(store.network_version, event_id)
            entry = self._entries.get(event_id)
            if entry is not None and entry.version == version and self._fresh(entry):
                return entry.suggestions
            suggestions = await self.db.run_read(load_and_compute, event_id)
            self._entries[event_id] = _Entry(version, time.monotonic(), suggestions)
            return suggestions

    def _fresh(self, entry: _Entry) -> bool:
        return time.monotonic() - entry.made < self.max_age

    async def for_attendee(self, event_id: int, attendee_id: int) -> list[Suggestion]:
        suggestions = await self.event(event_id)
        return await self.db.run_read(_serve, suggestions, attendee_id)


def _serve(session: Session, suggestions: Suggestions, attendee_id: int) -> list[Suggestion]:
    me = store.person(session, attendee_id)
    if me is None or not me.opted_in:
        return []
    picks = suggestions.for_attendee(attendee_id)
    excluded = store.excluded_from_suggestions(session, attendee_id)
    persons = store.people(session, [aid for aid, _ in picks if aid not in excluded])
    return [
        Suggestion(persons[aid], score, explain(suggestions.features, attendee_id, aid))
        for aid, score in picks
        if aid in persons and persons[aid].opted_in
    ]


def list_suggestions(
    session: Session, event_id: int, gettext: Callable[[str], str] = str
) -> list[dict[str, Any]]:
    """Every attendee's suggested matches for the organiser's export: attendee ids, names,
    rank, score, and the reasons told about both people (not "you") in ``gettext``'s
    language."""
    suggestions = load_and_compute(session, event_id)
    features = suggestions.features
    rows: list[dict[str, Any]] = []
    for i, aid in enumerate(features.ids.tolist()):
        for rank, (other, score) in enumerate(suggestions.for_attendee(aid), start=1):
            rows.append(
                {
                    "attendee_id": aid,
                    "name": features.names[i],
                    "suggested_id": other,
                    "suggested_name": features.names[features.index[other]],
                    "rank": rank,
                    "score": round(score, 3),
                    "reasons": "; ".join(
                        r.about(gettext, features.names[i]) for r in explain(features, aid, other)
                    ),
                }
            )
    return rows
