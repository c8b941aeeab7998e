"""Benchmark: suggestions for a whole hall, and one attendee's list served from the cache.

    python -m loadtests.bench_matching [--attendees 10000] [--topics 50] [--pitches 30]

Seeds a synthetic event in a temporary SQLite file (opted-in profiles with interests,
offers and seeks, organisation types, ~70 % of attendees rating each pitch, some partner
interests and contacts), then times reading it from SQL, building the matrices, scoring
everyone against everyone with popularity damping, and serving single lists (version
check, fresh exclusion filter and reasons in words) as the web page does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import insert
from sqlmodel import col, select

from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event, Pitch, Vote
from eventapp.networking import queries as store
from eventapp.networking.matching import build_features, compute_suggestions
from eventapp.networking.matching_queries import matching_data
from eventapp.networking.models import (
    ContactLink,
    NetworkProfile,
    OrgType,
    PartnerInterest,
)
from eventapp.networking.suggestions import SuggestionCache
from eventapp.voting.rules import PitchSpec, create_event

T = TypeVar("T")

TAGS = [f"tag {i}" for i in range(300)]


def seed(db: Database, attendees: int, topics: int, pitches: int, rng: random.Random) -> int:
    event = create_event("Bench", [PitchSpec(f"Pitch {i}") for i in range(pitches)], db=db)
    assert event.id is not None
    topic_names = [f"Topic {i}" for i in range(topics)]
    org_types = list(OrgType)
    with db.session() as session:
        row = session.get(Event, event.id)
        assert row is not None
        row.topics = json.dumps(topic_names)
        session.add(row)
        session.commit()
        first = (
            session.execute(
                insert(Attendee).returning(col(Attendee.id)),
                [
                    {
                        "event_id": event.id,
                        "token": secrets.token_urlsafe(16),
                        "name": f"Person {i}",
                        "organization": f"Org {i % 997}",
                    }
                    for i in range(attendees)
                ],
            )
            .scalars()
            .all()
        )
        ids = list(first)
        # Zipf-like popularity: a few topics and tags are common, most are rare.
        topic_w = [1 / (k + 1) for k in range(topics)]
        tag_w = [1 / (k + 1) ** 0.8 for k in range(len(TAGS))]
        session.execute(
            insert(NetworkProfile),
            [
                {
                    "attendee_id": aid,
                    "event_id": event.id,
                    "opted_in": True,
                    "org_type": rng.choice(org_types).value,
                    "interests": json.dumps(sorted(set(rng.choices(topic_names, topic_w, k=4)))),
                    "offers": json.dumps(
                        sorted(set(rng.choices(TAGS, tag_w, k=rng.randint(0, 3))))
                    ),
                    "seeks": json.dumps(sorted(set(rng.choices(TAGS, tag_w, k=rng.randint(0, 3))))),
                    "email": f"p{aid}@example.org",
                    "share_email": True,
                    "qr_nonce": "x",
                }
                for aid in ids
            ],
        )
        pitch_ids = list(session.exec(select(Pitch.id).where(Pitch.event_id == event.id)).all())
        votes = [
            {
                "event_id": event.id,
                "pitch_id": pid,
                "attendee_id": aid,
                "score": rng.choice((1, 2, 3, 3, 4, 4, 5, 5)),
                "seq": 1,
            }
            for aid in ids
            for pid in pitch_ids
            if rng.random() < 0.7
        ]
        for start in range(0, len(votes), 50_000):
            session.execute(insert(Vote), votes[start : start + 50_000])
        session.execute(
            insert(PartnerInterest),
            [
                {
                    "event_id": event.id,
                    "pitch_id": rng.choice(pitch_ids),
                    "attendee_id": aid,
                    "role": "partner",
                }
                for aid in rng.sample(ids, attendees // 20)
            ],
        )
        pairs = {tuple(sorted(rng.sample(ids, 2))) for _ in range(attendees)}
        session.execute(
            insert(ContactLink),
            [
                {
                    "event_id": event.id,
                    "low_id": a,
                    "high_id": b,
                    "requester_id": a,
                    "state": "accepted",
                    "via": "qr",
                }
                for a, b in pairs
            ],
        )
        store.bump_version(session, event.id)
        session.commit()
        print(f"seeded {attendees} attendees, {len(votes)} votes, {len(pairs)} contacts")
    return event.id


def timed(label: str, fn: Callable[..., T], *args: object) -> T:
    started = time.perf_counter()
    result = fn(*args)
    print(f"{label:<44} {time.perf_counter() - started:7.2f} s")
    return result


async def serve(db: Database, event_id: int, ids: list[int], rounds: int) -> list[float]:
    cache = SuggestionCache(db=db, max_age=3600)
    started = time.perf_counter()
    await cache.for_attendee(event_id, ids[0])
    print(
        f"{'first request (cold cache, computes all)':<44} {time.perf_counter() - started:7.2f} s"
    )
    times = []
    for aid in ids[:rounds]:
        t = time.perf_counter()
        listed = await cache.for_attendee(event_id, aid)
        times.append((time.perf_counter() - t) * 1000)
        assert listed and listed[0].reasons, aid
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attendees", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--pitches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.migrate()  # the real path: every table, whatever this process imported
        event_id = seed(db, args.attendees, args.topics, args.pitches, rng)
        event = db.read(lambda s: s.get(Event, event_id))
        data = timed("read from SQL (profiles, votes, links)", db.read, matching_data, event_id)
        features = timed("build matrices", build_features, data, event)
        result = timed(
            f"score all {args.attendees} attendees + damping", compute_suggestions, features
        )
        ids = [int(x) for x in features.ids.tolist()]
        listed = sum(len(result.for_attendee(a)) for a in ids)
        print(f"{'suggestions made':<44} {listed:7d}")
        times = asyncio.run(serve(db, event_id, rng.sample(ids, len(ids)), args.rounds))
        times.sort()
        print(f"{'one list served, median':<44} {statistics.median(times):7.2f} ms")
        print(f"{'one list served, p95':<44} {times[int(len(times) * 0.95)]:7.2f} ms")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'peak memory (RSS)':<44} {peak:7.0f} MB")
        db.close()


if __name__ == "__main__":
    main()
