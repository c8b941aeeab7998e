"""An upvote storm across two app processes on one Redis and one database (issue 16):
duplicates, revocations and reconnects end with exact counts in SQL, on every screen and
on every phone of both processes, also when a dead socket's older wishes are applied
after the phone's newer ones; anonymity holds in every socket message."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from eventapp.core.models import Event
from eventapp.questions import queries as qstore
from eventapp.voting.rules import PitchSpec, create_event
from tests.conftest import AppProcess, DatabaseTarget
from tests.support.joining import join_http
from tests.support.phones import LiveClient
from tests.support.seeding import first_stage
from tests.support.servers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PHONES = 60
ASKERS = 3
# Exactness, not speed, is checked: two processes writing one SQLite file on a loaded
# 2-core machine can take a while to settle (SQLite waits up to 30 s for its lock).
WAIT = 60


def _counts(message: dict[str, Any]) -> dict[int, int]:
    return {
        q["id"]: q["upvotes"] for block in message.get("pitches", []) for q in block["questions"]
    }


def test_upvote_storm_with_duplicates_and_reconnects_ends_exact_everywhere(
    database_target: DatabaseTarget,
    redis_server: RedisServer,
    app_processes: Callable[..., AppProcess],
) -> None:
    db = database_target.created()
    event = create_event("Storm", [PitchSpec("Smart Parking"), PitchSpec("Heat")], db=db)

    def top_three(session: Any) -> None:
        row = session.get(Event, event.id)
        row.questions_projector_top = True
        session.add(row)
        session.commit()

    db.call(top_three)
    env = database_target.with_redis(redis_server.url, "qmp")
    a, b = app_processes(env), app_processes(env)
    hosts = [a.url, b.url]
    rng = random.Random(16)

    async def scenario() -> tuple[dict[int, int], list[dict[str, Any]], list[str]]:
        seen: list[str] = []  # every raw message, to check anonymity afterwards
        moderator = LiveClient(b.url, event.code)
        await moderator.connect(
            {"type": "hello", "role": "moderator", "key": first_stage(db, event).moderator_key}
        )
        projector = LiveClient(a.url, event.code)
        await projector.connect(
            {"type": "hello", "role": "projector", "key": first_stage(db, event).projector_key}
        )
        await moderator.send({"type": "next"})
        state = await moderator.wait_for(
            lambda m: m["type"] == "state" and m["event"]["current_pitch_id"] is not None
        )
        pitch = state["event"]["current_pitch_id"]

        tokens = await asyncio.gather(
            *(join_http(hosts[i % 2], event.code, f"Guest {i}") for i in range(PHONES))
        )
        phones = [LiveClient(hosts[i % 2], event.code) for i in range(PHONES)]
        await asyncio.gather(
            *(p.connect({"type": "hello", "token": t}) for p, t in zip(phones, tokens, strict=True))
        )
        questions = []
        for i in range(ASKERS):
            await phones[i].send(
                {
                    "type": "ask_question",
                    "pitch_id": pitch,
                    "text": f"Question {i}",
                    "anonymous": i == 1,  # asker 1 stays anonymous
                }
            )
            ack = await phones[i].wait_for(
                lambda m: m["type"] in ("question_ack", "error"), timeout=WAIT
            )
            assert ack["type"] == "question_ack", ack
            questions.append(ack["question_id"])

        # Every phone wants each question it did not ask upvoted, except a fifth that
        # upvote and then take it back. Everything is sent twice, in a shuffled order.
        wanted = {
            (i, q): (i + j) % 5 != 0
            for i in range(PHONES)
            for j, q in enumerate(questions)
            if i != j
        }

        async def storm(i: int) -> None:
            phone = phones[i]
            seqs = itertools.count(1)  # the phone's wish counter (EA.nextSeq)
            plan: list[tuple[int, bool, int]] = []
            for (who, q), up in wanted.items():
                if who == i:
                    # Each wish is sent twice (a resend has the wish's own seq).
                    seq = next(seqs)
                    plan += [(q, True, seq), (q, True, seq)]
                    if not up:
                        seq = next(seqs)
                        plan += [(q, False, seq), (q, False, seq)]
            for step, (q, up, seq) in enumerate(plan):
                if i % 4 == 0 and step == len(plan) // 2:
                    # Lost the network mid-storm: a fresh socket on the other process, and
                    # the phone sends its wishes again. What the old socket sent may still
                    # be applied after these (a loaded process reads it late): being older,
                    # it must change nothing.
                    await phone.close()
                    phones[i] = phone = LiveClient(hosts[(i + 1) % 2], event.code)
                    await phone.connect({"type": "hello", "token": tokens[i]})
                    for (who, q2), up2 in wanted.items():
                        if who == i:
                            await phone.send(
                                {
                                    "type": "upvote_question",
                                    "question_id": q2,
                                    "up": up2,
                                    "seq": next(seqs),
                                }
                            )
                    return
                await phone.send(
                    {"type": "upvote_question", "question_id": q, "up": up, "seq": seq}
                )
                await asyncio.sleep(rng.random() * 0.05)

        await asyncio.gather(*(storm(i) for i in range(PHONES)))
        expected = {
            q: sum(1 for (_i, q2), up in wanted.items() if q2 == q and up) for q in questions
        }

        def exact(m: dict[str, Any]) -> bool:
            seen.append(json.dumps(m))
            return m["type"] == "questions" and _counts(m) == expected

        def projector_exact(m: dict[str, Any]) -> bool:
            seen.append(json.dumps(m))
            return (
                m["type"] == "questions"
                and {q["id"]: q["upvotes"] for q in m.get("top", [])} == expected
            )

        try:
            final_mod = await moderator.wait_for(exact, timeout=WAIT)
            final_proj = await projector.wait_for(projector_exact, timeout=WAIT)
            # A phone on each process (one that never reconnected) shows the same counts.
            final_a = await phones[1].wait_for(exact, timeout=WAIT)
            final_b = await phones[2].wait_for(exact, timeout=WAIT)
            # And so does every other phone: each process hands the feed to its 30 phones
            # 25 at a time, 10 ms apart (PHONE_SLICE, PHONE_PAUSE); none is skipped.
            await asyncio.gather(
                *(p.wait_for(exact, timeout=WAIT) for i, p in enumerate(phones) if i not in (1, 2))
            )
        finally:  # closed also when a wait fails, so no socket outlives the test
            for client in (moderator, projector, *phones):
                seen += [json.dumps(m) for m in client.inbox]
                await client.close()
        return expected, [final_mod, final_proj, final_a, final_b], seen

    expected, finals, seen = asyncio.run(scenario())
    assert db.read(qstore.upvote_counts, event.id) == {q: n for q, n in expected.items() if n}
    moderator, projector, phone_a, phone_b = finals
    assert _counts(moderator) == _counts(phone_a) == _counts(phone_b) == expected
    assert [q["upvotes"] for q in projector["top"]] == sorted(expected.values(), reverse=True)
    # Anonymity: the anonymous asker's name never appears in any socket message, and no
    # message carries an asker's attendee id with a question.
    assert not any("Guest 1" in text for text in seen)
    names = {q["text"]: q["name"] for q in moderator["pitches"][0]["questions"]}
    assert names == {"Question 0": "Guest 0", "Question 1": None, "Question 2": "Guest 2"}
    db.close()
