"""The organiser's stages and sessions (issue 15): create, rename, order and delete the
rooms of a conference, the sessions of each stage's agenda, and where a pitch belongs.

Rules take ``bus`` and ``namespace`` and publish what they changed after the commit: a
change of the stage list (add, rename, order, delete, moving a pitch between stages)
publishes every stage's state, since each names all stages; a session change publishes
its stage's. Every refusal is an ``errors.Refused`` with a stable code; nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.validation import clean_text
from eventapp.errors import Refused
from eventapp.i18n import DEFAULT_TIMEZONE
from eventapp.organizing import queries as store
from eventapp.organizing.rules import PitchInput
from eventapp.voting.queries import EventState, stages_of
from eventapp.voting.rules import new_key, publish_states

MAX_STAGES = 50  # rooms of one conference; a trade fair forum has a handful
MAX_SESSIONS = 100  # sessions per stage


def clean_stage_name(name: str) -> str:
    """A stage's name: required for an organiser's stage (the unnamed one is only the
    default of a one-stage event), at most 80 characters."""
    try:
        return clean_text(name, field="stage name", max_length=80, required=True)
    except ValueError as exc:
        raise Refused(
            "bad_stage_name", "A stage needs a name of at most %(limit)d characters.", {"limit": 80}
        ) from exc


def _stage_refusal(exc: Exception, name: str = "") -> Refused:
    if isinstance(exc, store.NameTaken):
        return Refused(
            "stage_name_taken", "A stage named %(name)s exists already.", {"name": str(exc)}
        )
    if isinstance(exc, store.StageBusy):
        return Refused(
            "stage_busy",
            "A pitch of this stage is on stage or open for voting; close it on the"
            " moderator screen first.",
        )
    if isinstance(exc, store.StageHasVotes):
        return Refused(
            "stage_has_votes",
            "This stage's pitches have %(votes)d votes: tick the box to delete the stage"
            " with its pitches and votes.",
            {"votes": exc.votes},
        )
    if isinstance(exc, store.LastStage):
        return Refused("last_stage", "A conference keeps at least one stage.")
    return Refused("unknown_stage", "No such stage in this event.")


async def add_stage(
    event_id: int, name: str, *, db: Database, bus: Bus, namespace: str
) -> list[EventState]:
    name = clean_stage_name(name)
    stages = await db.run_read(stages_of, event_id)
    if len(stages) >= MAX_STAGES:
        raise Refused(
            "too_many_stages", "A conference has at most %(limit)d stages.", {"limit": MAX_STAGES}
        )
    try:
        states = await db.run(store.add_stage, event_id, name, new_key(), new_key())
    except store.NameTaken as exc:
        raise _stage_refusal(exc) from None
    await publish_states(states, bus=bus, namespace=namespace)
    return states


async def rename_stage(
    event_id: int, stage_id: int, name: str, *, db: Database, bus: Bus, namespace: str
) -> list[EventState]:
    name = clean_stage_name(name)
    try:
        states = await db.run(store.rename_stage, event_id, stage_id, name)
    except (store.NameTaken, LookupError) as exc:
        raise _stage_refusal(exc) from None
    await publish_states(states, bus=bus, namespace=namespace)
    return states


async def move_stage(
    event_id: int, stage_id: int, delta: int, *, db: Database, bus: Bus, namespace: str
) -> list[EventState]:
    try:
        states = await db.run(store.move_stage, event_id, stage_id, delta)
    except LookupError as exc:
        raise _stage_refusal(exc) from None
    await publish_states(states, bus=bus, namespace=namespace)
    return states


async def delete_stage(
    event_id: int, stage_id: int, *, confirm: bool, db: Database, bus: Bus, namespace: str
) -> list[EventState]:
    """Delete a stage with its sessions and pitches. A stage whose pitches have votes
    needs ``confirm`` (like deleting a pitch); a stage with a pitch on stage or voting
    open, and the last stage, are refused."""
    try:
        states = await db.run(store.delete_stage, event_id, stage_id, confirm=confirm)
    except (store.StageBusy, store.StageHasVotes, store.LastStage, LookupError) as exc:
        raise _stage_refusal(exc) from None
    await publish_states(states, bus=bus, namespace=namespace)
    return states


# ------------------------------------------------------------------ sessions


def clean_session(
    title: str, starts_at: str, timezone: str = DEFAULT_TIMEZONE
) -> tuple[str, datetime | None]:
    """A session's title (required, 160 characters) and start time (``2026-05-14T10:30``
    or ``10:30`` on no day: empty means none), read in the event's time zone."""
    try:
        title = clean_text(title, field="session title", max_length=160, required=True)
    except ValueError:
        raise Refused(
            "bad_session",
            "A session needs a title of at most %(limit)d characters.",
            {"limit": 160},
        ) from None
    raw = (starts_at or "").strip()
    if not raw:
        return title, None
    import zoneinfo

    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        raise Refused(
            "bad_session_time",
            "The start time must look like 2026-05-14T10:30 (%(value)s).",
            {"value": raw[:40]},
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone or DEFAULT_TIMEZONE))
    return title, moment


async def add_session(
    event_id: int,
    stage_id: int,
    title: str,
    starts_at: datetime | None,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
) -> EventState:
    sessions = await db.run_read(store.sessions_of_event, event_id)
    if sum(1 for s in sessions if s.stage_id == stage_id) >= MAX_SESSIONS:
        raise Refused(
            "too_many_sessions",
            "A stage has at most %(limit)d sessions.",
            {"limit": MAX_SESSIONS},
        )
    try:
        state = await db.run(store.add_session, event_id, stage_id, title, starts_at)
    except store.NameTaken:
        raise _session_taken(title) from None
    except LookupError:
        raise Refused("unknown_stage", "No such stage in this event.") from None
    await publish_states([state], bus=bus, namespace=namespace)
    return state


def _session_taken(title: str) -> Refused:
    return Refused(
        "session_title_taken",
        "This stage has a session titled %(title)s already.",
        {"title": title},
    )


async def update_session(
    event_id: int,
    session_id: int,
    title: str,
    starts_at: datetime | None,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
) -> EventState:
    try:
        state = await db.run(store.update_session, event_id, session_id, title, starts_at)
    except store.NameTaken:
        raise _session_taken(title) from None
    except LookupError:
        raise Refused("unknown_session", "No such session in this event.") from None
    await publish_states([state], bus=bus, namespace=namespace)
    return state


async def delete_session(
    event_id: int, session_id: int, *, db: Database, bus: Bus, namespace: str
) -> EventState:
    try:
        state = await db.run(store.delete_session, event_id, session_id)
    except LookupError:
        raise Refused("unknown_session", "No such session in this event.") from None
    await publish_states([state], bus=bus, namespace=namespace)
    return state


def parse_place(form: Mapping[str, str]) -> tuple[int, int | None]:
    """The console's "stage / session" choice: ``place`` is ``STAGE`` or
    ``STAGE:SESSION`` (ids)."""
    raw = form.get("place", "").strip()
    stage, _, agenda = raw.partition(":")
    if (
        not stage.isdigit()
        or len(stage) > 18
        or (agenda and (not agenda.isdigit() or len(agenda) > 18))
    ):
        raise Refused("unknown_stage", "No such stage in this event.")
    return int(stage), (int(agenda) if agenda else None)


async def place_pitch(
    event_id: int,
    pitch_id: int,
    stage_id: int,
    session_id: int | None,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
) -> list[EventState]:
    """Assign a pitch to a stage and a session of it (or none)."""
    try:
        states = await db.run(store.place_pitch, event_id, pitch_id, stage_id, session_id)
    except store.StageBusy:
        raise Refused(
            "pitch_busy",
            "This pitch is on stage or open for voting; it can move to another stage once"
            " it is off stage and voting is closed.",
        ) from None
    except LookupError:
        raise Refused("unknown_stage", "No such stage or session in this event.") from None
    await publish_states(states, bus=bus, namespace=namespace)
    return states


async def add_pitch(
    event_id: int,
    pitch: PitchInput,
    stage_id: int,
    session_id: int | None,
    *,
    db: Database,
    bus: Bus,
    namespace: str,
) -> EventState:
    """Append a pitch to a stage's agenda (and one of its sessions)."""
    spec = [(pitch.title, pitch.presenter, pitch.presenter_attendee_id)]
    try:
        state = await db.run(store.add_pitches, event_id, spec, stage_id, session_id)
    except LookupError:
        raise Refused("unknown_stage", "No such stage or session in this event.") from None
    await publish_states([state], bus=bus, namespace=namespace)
    return state
