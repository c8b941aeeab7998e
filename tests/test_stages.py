"""Several stages in one conference (issue 15): per-stage state and screens, one identity
across stages, refusals across stages and conferences, and two processes on Redis."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.testclient import TestClient, WebSocketTestSession

from eventapp.core.bus import RedisBus
from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.organizing import queries as store
from eventapp.voting import queries
from eventapp.voting.rules import (
    PitchSpec,
    StageSpec,
    create_event,
    new_key,
    publish_state,
    publish_states,
)
from tests.conftest import AppProcess, DatabaseTarget
from tests.helpers import ORIGIN, command, csrf_of, join, live_socket, of_type, receive_until
from tests.support.joining import csrf_of as form_csrf
from tests.support.joining import join_http
from tests.support.phones import LiveClient
from tests.support.seeding import stages as stages_of
from tests.support.seeding import stored_votes
from tests.support.servers import RedisServer


def two_stages(db: Database, name: str = "Forum Stadtwerke") -> Event:
    return create_event(
        name,
        [],
        db=db,
        live_results=True,
        language="en",
        stages=[
            StageSpec("Saal A", [PitchSpec("Smart Parking"), PitchSpec("Heat Transition")]),
            StageSpec("Saal B", [PitchSpec("Housing Exchange"), PitchSpec("Flood Warning")]),
        ],
    )


@pytest.fixture
def conference(db: Database) -> Event:
    return two_stages(db)


def _hello(ws: WebSocketTestSession, message: dict[str, Any]) -> dict[str, Any]:
    ws.send_json({"type": "hello", **message})
    return receive_until(ws, lambda m: m["type"] in ("welcome", "error"))


def _pitches(welcome: dict[str, Any]) -> list[int]:
    return [p["id"] for p in welcome["event"]["pitches"]]


def test_a_new_conference_has_its_stages_with_their_own_links_and_agendas(
    db: Database, conference: Event
) -> None:
    a, b = stages_of(db, conference)
    assert (a.name, b.name, a.position, b.position) == ("Saal A", "Saal B", 0, 1)
    assert len({a.moderator_key, a.projector_key, b.moderator_key, b.projector_key}) == 4
    assert conference.id is not None
    states = db.read(queries.load_states, conference.id)
    assert [[p.title for p in s.pitches] for s in states] == [
        ["Smart Parking", "Heat Transition"],
        ["Housing Exchange", "Flood Warning"],
    ]
    assert [s.stage_name for s in states] == ["Saal A", "Saal B"]


def test_a_moderator_of_one_stage_cannot_command_the_other(
    client: TestClient, db: Database, conference: Event
) -> None:
    a, b = stages_of(db, conference)
    with live_socket(client, conference) as mod_a, live_socket(client, conference) as mod_b:
        a_pitches = _pitches(_hello(mod_a, {"role": "moderator", "key": a.moderator_key}))
        b_pitches = _pitches(_hello(mod_b, {"role": "moderator", "key": b.moderator_key}))
        command(mod_b, {"type": "open_voting"})
        for message in (
            {"type": "goto", "pitch_id": b_pitches[1]},
            {"type": "open_voting", "pitch_id": b_pitches[0]},
            {"type": "reveal", "pitch_id": b_pitches[0]},
            {"type": "reset_votes", "pitch_id": b_pitches[0], "confirm": True},
        ):
            mod_a.send_json(message)
            error = receive_until(mod_a, of_type("error"))
            assert (error["code"], error["ref"]) == ("wrong_stage", message["type"])
        # Stage A's own commands work and leave stage B as it was.
        state = command(mod_a, {"type": "open_voting"})
        assert state["event"]["stage_id"] == a.id
        assert state["event"]["current_pitch_id"] == a_pitches[0]
    states = {s.stage_id: s for s in db.read(queries.load_states, conference.id or 0)}
    assert states[b.id or 0].current_pitch_id == b_pitches[0]
    assert [p.state.value for p in states[b.id or 0].pitches] == ["open", "pending"]
    assert [p.state.value for p in states[a.id or 0].pitches] == ["open", "pending"]
    # A stage's key opens its own screens only: not the other stage's.
    with live_socket(client, conference) as ws:
        error = _hello(ws, {"role": "moderator", "key": a.moderator_key, "stage": b.id})
        assert error["code"] == "wrong_stage"
    with live_socket(client, conference) as ws:
        error = _hello(ws, {"role": "moderator", "key": a.projector_key})
        assert error["code"] == "forbidden"
    page = client.get(f"/e/{conference.code}/moderator/{a.moderator_key}?stage={b.id}")
    assert page.status_code == 404 and "This link is not valid." in page.text
    # The organiser's key opens any stage, the one it names.
    with live_socket(client, conference) as ws:
        welcome = _hello(ws, {"role": "moderator", "key": conference.organizer_key, "stage": b.id})
        assert welcome["event"]["stage_id"] == b.id


def test_one_attendee_moves_between_stages_with_one_identity_and_keeps_the_votes(
    client: TestClient, db: Database, conference: Event
) -> None:
    a, b = stages_of(db, conference)
    token = join(client, conference.code, "Ada", "Stadtwerke")
    with (
        live_socket(client, conference) as mod_a,
        live_socket(client, conference) as mod_b,
        live_socket(client, conference) as proj_a,
        live_socket(client, conference) as proj_b,
        live_socket(client, conference) as phone,
    ):
        _hello(mod_a, {"role": "moderator", "key": a.moderator_key})
        a_open = command(mod_a, {"type": "open_voting"})["event"]["current_pitch_id"]
        _hello(mod_b, {"role": "moderator", "key": b.moderator_key})
        b_open = command(mod_b, {"type": "open_voting"})["event"]["current_pitch_id"]
        _hello(proj_a, {"role": "projector", "key": a.projector_key})
        _hello(proj_b, {"role": "projector", "key": b.projector_key})

        welcome = _hello(phone, {"token": token, "stage": a.id})
        me = welcome["attendee_id"]
        assert welcome["event"]["stage_id"] == a.id
        assert [s["name"] for s in welcome["event"]["stages"]] == ["Saal A", "Saal B"]
        # On stage A, a vote for stage B's open pitch is refused and nothing is stored.
        phone.send_json({"type": "vote", "pitch_id": b_open, "score": 2, "seq": 1})
        error = receive_until(phone, of_type("error"))
        assert (error["code"], error["pitch_id"]) == ("wrong_stage", b_open)
        phone.send_json({"type": "vote", "pitch_id": a_open, "score": 5, "seq": 2})
        assert receive_until(phone, of_type("vote_ack"))["pitch_id"] == a_open
        receive_until(
            proj_a,
            lambda m: m["type"] == "screen" and m["connected"] == 1 and m["current"]["votes_in"],
        )

        # One tap: the phone is on stage B, follows its pitch and votes there.
        phone.send_json({"type": "switch_stage", "stage_id": b.id})
        state = receive_until(phone, of_type("state"))
        assert state["event"]["stage_id"] == b.id
        assert state["event"]["current_pitch_id"] == b_open
        phone.send_json({"type": "vote", "pitch_id": b_open, "score": 3, "seq": 3})
        assert receive_until(phone, of_type("vote_ack"))["pitch_id"] == b_open
        # Turnout is per stage: projector B counts the phone, projector A no longer does.
        plain = receive_until(proj_b, lambda m: m["type"] == "screen" and m["connected"] == 1)
        screen_a = receive_until(proj_a, lambda m: m["type"] == "screen" and m["connected"] == 0)
        assert screen_a["current"]["votes_in"] == 1  # the vote stays where it was cast
        # Several stages: screens carry the overview and the conference leaderboard.
        overview = receive_until(
            mod_a,
            lambda m: (
                m["type"] == "screen"
                and any(s["stage_id"] == b.id and s["connected"] == 1 for s in m["stages"] or [])
            ),
        )
        assert [(s["name"], s["current_pitch_id"], s["state"]) for s in overview["stages"]] == [
            ("Saal A", a_open, "open"),
            ("Saal B", b_open, "open"),
        ]
        assert overview["conference"] is None  # the moderator page does not show it
        # A conference-view projector gets the leaderboard across stages; a plain one not.
        with live_socket(client, conference) as board:
            _hello(board, {"role": "projector", "key": a.projector_key, "view": "conference"})
            shown = receive_until(
                board, lambda m: m["type"] == "screen" and len(m["conference"] or []) == 2
            )
            assert {(r["pitch_id"], r["stage_id"]) for r in shown["conference"]} == {
                (a_open, a.id),
                (b_open, b.id),
            }
            assert shown["stages"] is not None
        assert (plain["stages"], plain["conference"]) == (None, None)

        # Back on A: the vote there is still the attendee's, and the welcome of a new tab
        # holds the votes of both stages.
        phone.send_json({"type": "switch_stage", "stage_id": a.id})
        assert receive_until(phone, of_type("state"))["event"]["stage_id"] == a.id
        with live_socket(client, conference) as tab:
            again = _hello(tab, {"token": token, "stage": b.id})
            assert again["attendee_id"] == me
            assert {k: v["score"] for k, v in again["my_votes"].items()} == {
                str(a_open): 5,
                str(b_open): 3,
            }
    assert stored_votes(db, a_open) == {me: (5, 2)}
    assert stored_votes(db, b_open) == {me: (3, 3)}
    assert db.read(queries.attendee_count, conference.id or 0) == 1


def test_a_stage_of_another_conference_is_refused_and_nothing_changes(
    client: TestClient, db: Database, conference: Event
) -> None:
    other = two_stages(db, "Other Forum")
    foreign = stages_of(db, other)[1]
    a = stages_of(db, conference)[0]
    token = join(client, conference.code, "Grace")
    with live_socket(client, conference) as phone:
        assert _hello(phone, {"token": token, "stage": foreign.id})["code"] == "unknown_stage"
    with live_socket(client, conference) as phone:
        assert _hello(phone, {"token": token, "stage": a.id})["type"] == "welcome"
        phone.send_json({"type": "switch_stage", "stage_id": foreign.id})
        assert receive_until(phone, of_type("error"))["code"] == "unknown_stage"
        # Still on its stage, and still working.
        phone.send_json({"type": "ping"})
        receive_until(phone, of_type("pong"))
    with live_socket(client, conference) as ws:
        hello = {"role": "projector", "key": conference.organizer_key, "stage": foreign.id}
        assert _hello(ws, hello)["code"] == "unknown_stage"
    page = client.get(f"/e/{conference.code}/projector/{foreign.projector_key}")
    assert page.status_code == 404
    assert db.read(queries.vote_total, conference.id or 0) == 0


def test_each_stage_s_qr_code_and_link_put_the_phone_on_that_stage(
    client: TestClient, db: Database, conference: Event
) -> None:
    a, b = stages_of(db, conference)
    shown = client.get(f"/e/{conference.code}/projector/{b.projector_key}/admission.json").json()
    assert shown["join_url"] == f"http://testserver/e/{conference.code}?stage={b.id}"
    # Joining from that link keeps the stage through the form.
    client.cookies.clear()
    page = client.get(f"/e/{conference.code}?stage={b.id}")
    assert f'name="stage" value="{b.id}"' in page.text
    joined = client.post(
        f"/e/{conference.code}/join",
        data={"name": "Linus", "organization": "", "csrf": csrf_of(page.text), "stage": str(b.id)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert joined.headers["location"] == f"/e/{conference.code}?stage={b.id}"
    vote_page = client.get(joined.headers["location"])
    assert f'data-stage="{b.id}"' in vote_page.text
    assert 'id="stage-picker"' in vote_page.text and "Saal A" in vote_page.text
    # A one-stage event shows no picker and its QR code is the plain event link.
    single = create_event("One Hall", [PitchSpec("P")], db=db)
    only = stages_of(db, single)[0]
    shown = client.get(f"/e/{single.code}/projector/{only.projector_key}/admission.json").json()
    assert shown["join_url"] == f"http://testserver/e/{single.code}"
    assert a.id is not None


# ------------------------------------------------------------------ two processes


async def _vote_on_stage(
    base: str, code: str, tokens: list[str], stage_id: int, pitch_id: int, scores: list[int]
) -> None:
    phones = [LiveClient(base, code) for _ in tokens]
    for phone, token in zip(phones, tokens, strict=True):
        await phone.connect({"type": "hello", "token": token, "stage": stage_id})
    for seq, (phone, score) in enumerate(zip(phones, scores, strict=True), start=1):
        await phone.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": seq})
    for phone in phones:
        await phone.wait_for(lambda m: m["type"] == "vote_ack", timeout=30)
    # Stay connected until the projectors counted them.
    await asyncio.sleep(0)
    for phone in phones:
        await phone.close()


@pytest.mark.slow
@pytest.mark.redis
def test_two_stages_vote_at_once_on_two_processes_and_each_projector_is_exact(
    database_target: DatabaseTarget,
    redis_server: RedisServer,
    app_processes: Callable[..., AppProcess],
) -> None:
    db = database_target.created()
    event = two_stages(db)
    stage_a, stage_b = stages_of(db, event)
    env = database_target.with_redis(redis_server.url, "st")
    p1, p2 = app_processes(env), app_processes(env)
    rng = random.Random(15)
    per_stage = 12

    async def scenario() -> dict[int, dict[str, Any]]:
        screens: dict[int, LiveClient] = {}
        opened: dict[int, int] = {}
        for stage, moderator_on, projector_on in (
            (stage_a, p1, p2),
            (stage_b, p2, p1),
        ):
            assert stage.id is not None
            mod = LiveClient(moderator_on.url, event.code)
            welcome = await mod.connect(
                {"type": "hello", "role": "moderator", "key": stage.moderator_key}
            )
            await mod.send({"type": "open_voting"})
            await mod.wait_for(lambda m: m["type"] == "command_ack")
            opened[stage.id] = welcome["event"]["pitches"][0]["id"]
            await mod.close()
            screens[stage.id] = LiveClient(projector_on.url, event.code)
            await screens[stage.id].connect(
                {"type": "hello", "role": "projector", "key": stage.projector_key}
            )
        tokens = await asyncio.gather(
            *(
                join_http((p1, p2)[i % 2].url, event.code, f"Phone {i}")
                for i in range(2 * per_stage)
            )
        )
        # Phones of both stages on both processes, voting at the same time.
        jobs = []
        for n, stage in enumerate((stage_a, stage_b)):
            assert stage.id is not None
            mine = tokens[n * per_stage : (n + 1) * per_stage]
            for half, process in enumerate((p1, p2)):
                part = mine[half::2]
                scores = [rng.randint(1, 5) for _ in part]
                jobs.append(
                    _vote_on_stage(
                        process.url, event.code, part, stage.id, opened[stage.id], scores
                    )
                )
        await asyncio.gather(*jobs)
        shown: dict[int, dict[str, Any]] = {}
        for stage_id, projector in screens.items():
            pitch_id = opened[stage_id]
            sql = db.read(queries.score_counts, pitch_id)
            expected = {str(s): sql.get(s, 0) for s in range(1, 6)}
            screen = await projector.wait_for(
                lambda m, want=expected: (  # type: ignore[misc]
                    m["type"] == "screen"
                    and (m.get("current") or {}).get("summary") is not None
                    and m["current"]["summary"]["distribution"] == want
                ),
                timeout=30,
            )
            shown[stage_id] = {"pitch_id": pitch_id, "screen": screen, "sql": sql}
            await projector.close()
        return shown

    shown = asyncio.run(scenario())
    for stage_id, seen in shown.items():
        sql = seen["sql"]
        assert sum(sql.values()) == per_stage, (stage_id, sql)
        assert seen["screen"]["current"]["pitch_id"] == seen["pitch_id"]
        assert seen["screen"]["current"]["votes_in"] == per_stage
    # No vote landed on the other stage's pitch.
    a_pitch, b_pitch = (shown[s.id or 0]["pitch_id"] for s in (stage_a, stage_b))
    assert len(stored_votes(db, a_pitch)) == per_stage
    assert len(stored_votes(db, b_pitch)) == per_stage
    assert not set(stored_votes(db, a_pitch)) & set(stored_votes(db, b_pitch))
    db.close()


# ------------------------------------------------------------------ the moderator's overview


def _names_of(message: dict[str, Any]) -> list[str]:
    return [s["name"] for s in message["event"]["stages"]]


async def _overview_once_stages_are(mod: LiveClient, names: list[str]) -> list[str]:
    """The moderator's state that names ``names`` as the stages (version v), then the
    overview of the first screen at least that new (the page drops older screens): the
    names of the stages it shows."""
    state = await mod.wait_for(lambda m: m["type"] == "state" and _names_of(m) == names, timeout=20)
    version = state["event"]["version"]
    screen = await mod.wait_for(
        lambda m: m["type"] == "screen" and m["version"] >= version, timeout=20
    )
    return [s["name"] for s in screen["stages"] or []]


async def _console(base: str, event: Event, path: str, data: dict[str, str]) -> None:
    """Post a form of the organiser's console, as its page does (CSRF field and cookie)."""
    root = f"/e/{event.code}/organizer/{event.organizer_key}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        page = await http.get(root)
        response = await http.post(
            root + path,
            data={"csrf": form_csrf(page.text), **data},
            headers={"origin": base, "accept-language": "en"},
        )
    assert response.status_code == 303, response.text[-800:]


@pytest.mark.slow
@pytest.mark.redis
def test_the_moderator_s_overview_hears_a_stage_added_renamed_and_deleted_at_once(
    database_target: DatabaseTarget,
    redis_server: RedisServer,
    app_processes: Callable[..., AppProcess],
) -> None:
    """The organiser's console on one process adds, renames and deletes a stage; a
    moderator on the other process sees each in the first overview after its stage's
    state names the new list of stages, never a screen of that version without it."""
    db = database_target.created()
    event = two_stages(db)
    a, _b = stages_of(db, event)
    env = database_target.with_redis(redis_server.url, "ov")
    console, moderated = app_processes(env), app_processes(env)

    async def scenario() -> dict[str, list[str]]:
        mod = LiveClient(moderated.url, event.code)
        await mod.connect({"type": "hello", "role": "moderator", "key": a.moderator_key})
        await mod.wait_for(lambda m: m["type"] == "screen" and bool(m["stages"]), timeout=20)
        seen = {}
        await _console(console.url, event, "/stages", {"name": "Saal C"})
        seen["added"] = await _overview_once_stages_are(mod, ["Saal A", "Saal B", "Saal C"])
        added = next(s for s in stages_of(db, event) if s.name == "Saal C")
        await _console(console.url, event, f"/stages/{added.id}", {"name": "Foyer"})
        seen["renamed"] = await _overview_once_stages_are(mod, ["Saal A", "Saal B", "Foyer"])
        await _console(console.url, event, f"/stages/{added.id}", {"action": "delete"})
        seen["deleted"] = await _overview_once_stages_are(mod, ["Saal A", "Saal B"])
        await mod.close()
        return seen

    assert asyncio.run(scenario()) == {
        "added": ["Saal A", "Saal B", "Saal C"],
        "renamed": ["Saal A", "Saal B", "Foyer"],
        "deleted": ["Saal A", "Saal B"],
    }
    db.close()


@pytest.mark.slow
@pytest.mark.redis
def test_a_new_stage_list_reaches_the_overview_with_the_first_stage_s_announcement(
    database_target: DatabaseTarget,
    redis_server: RedisServer,
    app_processes: Callable[..., AppProcess],
) -> None:
    """The console's rule announces every stage's state one after the other, the new
    stage's last (with twenty stages, twenty Redis round trips). That window made
    certain: the stage is stored as the rule stores it, and only the first stage's state
    is announced so far. The moderator's next overview already shows the new stage, and
    after a rename the new name."""
    db = database_target.created()
    event = two_stages(db)
    assert event.id is not None
    a, _b = stages_of(db, event)
    namespace = f"ov-{random.getrandbits(32)}"
    env = database_target.env() | {"REDIS_URL": redis_server.url, "EVENTAPP_NAMESPACE": namespace}
    moderated = app_processes(env)

    async def scenario() -> dict[str, list[str]]:
        mod = LiveClient(moderated.url, event.code)
        await mod.connect({"type": "hello", "role": "moderator", "key": a.moderator_key})
        await mod.wait_for(lambda m: m["type"] == "screen" and bool(m["stages"]), timeout=20)
        # What the console's rule (organizing.stages.add_stage) writes, then the first of
        # its announcements; the others are still on their way.
        states = db.call(store.add_stage, event.id or 0, "Saal C", new_key(), new_key())
        assert [s.stage_name for s in states] == ["Saal A", "Saal B", "Saal C"]
        bus = RedisBus(Redis.from_url(redis_server.url, decode_responses=True))
        await publish_state(states[0], bus=bus, namespace=namespace)
        shown = {"added": await _overview_once_stages_are(mod, ["Saal A", "Saal B", "Saal C"])}
        await publish_states(states[1:], bus=bus, namespace=namespace)
        # The same for a renamed stage: its new name before its own state is announced.
        states = db.call(store.rename_stage, event.id or 0, states[2].stage_id, "Foyer")
        await publish_state(states[0], bus=bus, namespace=namespace)
        shown["renamed"] = await _overview_once_stages_are(mod, ["Saal A", "Saal B", "Foyer"])
        await publish_states(states[1:], bus=bus, namespace=namespace)
        await bus.client.aclose()
        await mod.close()
        return shown

    assert asyncio.run(scenario()) == {
        "added": ["Saal A", "Saal B", "Saal C"],
        "renamed": ["Saal A", "Saal B", "Foyer"],
    }
    db.close()
