"""Events and pitches: creation, joining, and the moderator's state changes.

Every state change is one SQL transaction; after it commits, the new state is published
on the event's channel (the write publishes its own change).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from eventapp.admission import queries as admission
from eventapp.admission.rules import JoinOrigin
from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Attendee, Event, Stage
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.enums import ACCEPTS_VOTES, PitchState
from eventapp.errors import Refused
from eventapp.messages import BusVotesReset, encode, server_message
from eventapp.voting import queries
from eventapp.voting.queries import EventState

# No 0/O, 1/I/L: a code read off a projector from 30 metres must be unambiguous.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
DEFAULT_LABELS = {
    "de": ["gar nicht relevant", "wenig relevant", "teils relevant", "relevant", "sehr relevant"],
    "en": ["not relevant", "slightly relevant", "somewhat relevant", "relevant", "very relevant"],
}


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_key() -> str:
    return secrets.token_urlsafe(24)


def event_channel(namespace: str, event_id: int) -> str:
    return f"{namespace}:event:{event_id}"


def event_channel_pattern(namespace: str) -> str:
    """The pattern matching every event channel of the namespace (one subscription)."""
    return f"{namespace}:event:*"


def event_of_channel(channel: str) -> int | None:
    """The event id of an event channel, or None for anything else."""
    _, _, tail = channel.rpartition(":event:")
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class PitchSpec:
    title: str
    presenter: str = ""


@dataclass(frozen=True)
class StageSpec:
    """A stage (room) of a new conference and its agenda."""

    name: str
    pitches: Sequence[PitchSpec] = ()


def new_stage(name: str = "") -> Stage:
    """A stage with fresh secret links (the caller sets event and position)."""
    name = clean_text(name, field="stage name", max_length=80)
    return Stage(event_id=0, name=name, moderator_key=new_key(), projector_key=new_key())


def create_event(
    name: str,
    pitches: Sequence[PitchSpec],
    *,
    db: Database,
    scale: tuple[int, int] = (1, 5),
    labels: Sequence[str] | None = None,
    live_results: bool = False,
    language: str = "de",
    stages: Sequence[StageSpec] | None = None,
) -> Event:
    """Create an event with its pitches; the caller prints or returns its links.

    Without ``stages`` the event has one unnamed stage holding ``pitches``; with them,
    one stage per spec (``pitches`` must then be empty)."""
    name = clean_text(name, field="name", max_length=120, required=True)
    if stages is None:
        stages = [StageSpec("", pitches)]
    elif pitches:
        raise InvalidInput("pitches", "give the pitches of each stage with the stage")
    if not stages:
        raise InvalidInput("stages", "a conference needs at least one stage")
    lo, hi = scale
    if not (0 <= lo < hi <= 10):
        raise InvalidInput("scale", "must be two whole numbers 0 ≤ min < max ≤ 10")
    if labels is None:
        labels = DEFAULT_LABELS.get(language, DEFAULT_LABELS["en"]) if (lo, hi) == (1, 5) else []
    labels = [clean_text(x, field="label", max_length=40) for x in labels]
    if labels and len(labels) != hi - lo + 1:
        raise InvalidInput("labels", "needs %(count)d labels, one per score", count=hi - lo + 1)
    specs = [
        (
            new_stage(stage.name),
            [
                (
                    clean_text(p.title, field="pitch title", max_length=160, required=True),
                    clean_text(p.presenter, field="presenter", max_length=160),
                )
                for p in stage.pitches
            ],
        )
        for stage in stages
    ]
    for _attempt in range(10):
        code = new_code()
        if db.read(queries.event_by_code, code) is None:
            break
    event = Event(
        code=code,
        name=name,
        organizer_key=new_key(),
        scale_min=lo,
        scale_max=hi,
        scale_labels=json.dumps(list(labels), ensure_ascii=False),
        live_results=live_results,
        language=language,
    )
    return db.call(queries.add_event, event, specs)


async def join_event(
    event_id: int,
    name: str,
    organization: str,
    *,
    db: Database,
    hall_code: str = "",
    origin: JoinOrigin | None = None,
    consent: str | None = None,
) -> Attendee:
    """Join through the form. The event's admission mode and cap are checked in the
    transaction that creates the attendee (raises Refused; nothing is created);
    ``consent`` (the privacy notice's version) is recorded in it too."""
    name = clean_text(name, field="name", max_length=60, required=True)
    organization = clean_text(organization, field="organization", max_length=80)
    attendee: Attendee = await db.run(
        admission.admit,
        event_id,
        name,
        organization,
        new_device_token(),
        hall_code=hall_code,
        origin=origin or JoinOrigin(),
        consent=consent,
    )
    return attendee


def new_device_token() -> str:
    return secrets.token_urlsafe(32)


async def _change(
    state: EventState,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
    states: dict[int, PitchState],
    current: int | None,
    reset: int | None = None,
) -> EventState:
    new_state = await db.run(
        queries.set_pitch_states,
        state.id,
        states=states,
        current_pitch_id=current,
        reset_pitch_id=reset,
        stage_id=state.stage_id or None,
    )
    return await publish_state(new_state, bus=bus, namespace=namespace)


async def publish_state(state: EventState, *, bus: Bus, namespace: str) -> EventState:
    """Announce a committed state on the event's channel: every phone and screen, on
    every process, gets it. Each rule that changes the state calls this after its write
    (organizing's rules too)."""
    await bus.publish(
        event_channel(namespace, state.id), server_message("state", event=state.as_json())
    )
    return state


async def publish_states(states: Sequence[EventState], *, bus: Bus, namespace: str) -> None:
    """``publish_state`` for each of several stages' states (a change of the conference:
    settings, the stage list, a rebuild of its tallies)."""
    for state in states:
        await publish_state(state, bus=bus, namespace=namespace)


def _require_pitch(state: EventState, pitch_id: int | None) -> int:
    pitch = state.pitch(pitch_id)
    if pitch is None:
        raise Refused("unknown_pitch")
    return pitch.id


def _closing_others(state: EventState, keep: int | None) -> dict[int, PitchState]:
    """Only one pitch takes votes at a time: moving on closes the open one."""
    return {
        p.id: PitchState.CLOSED for p in state.pitches if p.state in ACCEPTS_VOTES and p.id != keep
    }


async def goto_pitch(
    state: EventState, pitch_id: int, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    pitch_id = _require_pitch(state, pitch_id)
    return await _change(
        state,
        db=db,
        bus=bus,
        namespace=namespace,
        states=_closing_others(state, None),
        current=pitch_id,
    )


async def next_pitch(state: EventState, *, db: Database, bus: Bus, namespace: str) -> EventState:
    ids = [p.id for p in state.pitches]
    if not ids:
        raise Refused("no_pitches")
    if state.current_pitch_id in ids:
        index = ids.index(state.current_pitch_id) + 1
        if index >= len(ids):
            raise Refused("last_pitch")
    else:
        index = 0
    return await goto_pitch(state, ids[index], db=db, bus=bus, namespace=namespace)


async def open_voting(
    state: EventState, pitch_id: int | None, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    if pitch_id is None:
        pitch_id = state.current_pitch_id
        # A fresh event has nothing on stage yet: "Open voting" means the first pitch, the
        # moderator's obvious intent, rather than a refusal naming a pitch they never chose.
        if pitch_id is None and state.pitches:
            pitch_id = state.pitches[0].id
    pitch_id = _require_pitch(state, pitch_id)
    states = _closing_others(state, pitch_id)
    states[pitch_id] = PitchState.OPEN
    return await _change(
        state, db=db, bus=bus, namespace=namespace, states=states, current=pitch_id
    )


async def close_voting(state: EventState, *, db: Database, bus: Bus, namespace: str) -> EventState:
    states = _closing_others(state, None)
    if not states:
        raise Refused("not_open")
    return await _change(
        state, db=db, bus=bus, namespace=namespace, states=states, current=state.current_pitch_id
    )


async def reveal_results(
    state: EventState, pitch_id: int | None, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    pitch_id = _require_pitch(state, pitch_id if pitch_id is not None else state.current_pitch_id)
    pitch = state.pitch(pitch_id)
    assert pitch is not None
    if pitch.state is PitchState.PENDING:
        raise Refused("not_voted")
    states = _closing_others(state, None)
    states[pitch_id] = PitchState.REVEALED
    return await _change(
        state, db=db, bus=bus, namespace=namespace, states=states, current=state.current_pitch_id
    )


async def reset_votes(
    state: EventState, pitch_id: int, *, confirm: bool, db: Database, bus: Bus, namespace: str
) -> EventState:
    if not confirm:
        raise Refused("not_confirmed")
    pitch_id = _require_pitch(state, pitch_id)
    new_state = await _change(
        state,
        db=db,
        bus=bus,
        namespace=namespace,
        states={pitch_id: PitchState.PENDING},
        current=state.current_pitch_id,
        reset=pitch_id,
    )
    # Every phone, on every process, forgets its rating of the pitch and says so.
    await bus.publish(event_channel(namespace, state.id), encode(BusVotesReset(pitch_id=pitch_id)))
    return new_state
