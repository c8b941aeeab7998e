"""The organiser's view of the electorate: list attendees, flag stuffing, remove (and
undo), merge two attendees that are one person (issue 12).

Every change is one SQL transaction that also bumps every pitch's round: the live tallies
are keyed by round, so ``sync_live`` rebuilds fresh keys from SQL (the source of truth)
before the new state is published, and every screen, in every process, is exact. Votes
of removed attendees are set aside in ``removed_vote`` so a removal can be undone until
the event is closed; each change is written to the audit log.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from eventapp.admission import queries as admission
from eventapp.admission.models import AuditEntry, RemovedVote
from eventapp.core.bus import Bus
from eventapp.core.db import Database
from eventapp.core.models import Attendee, Pitch, Vote, utcnow
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.errors import Refused
from eventapp.i18n import N_
from eventapp.organizing.queries import bump_versions
from eventapp.voting import queries
from eventapp.voting.queries import EventState
from eventapp.voting.rules import publish_state, publish_states
from eventapp.voting.stats import summarize
from eventapp.voting.tallies import Tallies, TallyVote

# Flags: hints for the organiser, never acted on automatically.
JOIN_BURST = "join_burst"
SAME_SECOND = "same_second"
NEVER_LOADED = "never_loaded"
FLAGS = {
    JOIN_BURST: N_("joined in a burst from one network"),
    SAME_SECOND: N_("voted in the same second with the same scores as many others"),
    NEVER_LOADED: N_("never loaded the vote page"),
}
# ≥ BURST_JOINS joins from one address group within BURST_WINDOW seconds. A hall behind
# one address can trip this too: combine it with the other flags before removing.
BURST_WINDOW = 10.0
BURST_JOINS = 30
# ≥ CLUSTER_SIZE attendees gave the same score to the same pitch in the same second, and
# all of an attendee's votes are in such clusters.
CLUSTER_SIZE = 10
MAX_REASON = 200


@dataclass(frozen=True)
class AttendeeRow:
    id: int
    name: str
    organization: str
    joined_at: datetime
    address_group: str
    device: str
    via: str
    votes: int
    loaded_vote_page: bool
    flags: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "organization": self.organization,
            "joined_at": self.joined_at.isoformat(timespec="seconds"),
            "address_group": self.address_group,
            "device": self.device,
            "via": self.via,
            "votes": self.votes,
            "loaded_vote_page": self.loaded_vote_page,
            "flags": list(self.flags),
        }


def _burst_ids(attendees: Sequence[Attendee]) -> set[int]:
    by_group: dict[str, list[Attendee]] = defaultdict(list)
    for a in attendees:
        by_group[a.address_group].append(a)
    flagged: set[int] = set()
    for group in by_group.values():
        group.sort(key=lambda a: a.created_at)
        start = 0
        for end, a in enumerate(group):
            while (a.created_at - group[start].created_at).total_seconds() > BURST_WINDOW:
                start += 1
            if end - start + 1 >= BURST_JOINS:
                flagged.update(x.id for x in group[start : end + 1] if x.id is not None)
    return flagged


def _cluster_ids(votes: Sequence[tuple[int, int, int, datetime]]) -> set[int]:
    """Attendees all of whose votes fall in same-pitch, same-second, same-score crowds."""
    crowd: Counter[tuple[int, int, int]] = Counter()
    keys: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for attendee_id, pitch_id, score, at in votes:
        key = (pitch_id, int(at.timestamp()), score)
        crowd[key] += 1
        keys[attendee_id].append(key)
    return {aid for aid, ks in keys.items() if ks and all(crowd[k] >= CLUSTER_SIZE for k in ks)}


def attendee_rows(session: Session, event_id: int) -> list[AttendeeRow]:
    attendees = list(
        session.exec(
            select(Attendee)
            .where(Attendee.event_id == event_id, col(Attendee.removed_at).is_(None))
            .order_by(col(Attendee.id))
        ).all()
    )
    votes = [
        (int(a), int(p), int(s), t)
        for a, p, s, t in session.exec(
            select(Vote.attendee_id, Vote.pitch_id, Vote.score, Vote.updated_at).where(
                Vote.event_id == event_id
            )
        ).all()
    ]
    cast = Counter(a for a, _p, _s, _t in votes)
    burst, cluster = _burst_ids(attendees), _cluster_ids(votes)
    rows = []
    for a in attendees:
        assert a.id is not None
        flags = [
            name
            for name, hit in (
                (JOIN_BURST, a.id in burst),
                (SAME_SECOND, a.id in cluster),
                (NEVER_LOADED, a.vote_page_at is None),
            )
            if hit
        ]
        rows.append(
            AttendeeRow(
                a.id,
                a.name,
                a.organization,
                a.created_at,
                a.address_group,
                a.device,
                a.via,
                cast[a.id],
                a.vote_page_at is not None,
                tuple(flags),
            )
        )
    return rows


def select_ids(
    rows: Sequence[AttendeeRow], *, ids: Sequence[int], flags: Sequence[str]
) -> list[int]:
    """The attendees chosen one by one, plus those carrying *all* of the given flags."""
    chosen = set(ids)
    wanted = set(flags) & set(FLAGS)
    if wanted:
        chosen |= {r.id for r in rows if wanted <= set(r.flags)}
    return sorted(chosen)


# ------------------------------------------------------------------ preview


@dataclass(frozen=True)
class PitchChange:
    pitch_id: int
    title: str
    n_before: int
    mean_before: float | None
    n_after: int
    mean_after: float | None


def _active_in_event(session: Session, event_id: int, ids: Sequence[int]) -> list[Attendee]:
    if not ids:
        raise Refused("no_attendees", "Choose at least one attendee.")
    found = {
        a.id: a for a in session.exec(select(Attendee).where(col(Attendee.id).in_(set(ids)))).all()
    }
    for aid in sorted(set(ids)):
        a = found.get(aid)
        if a is None or a.event_id != event_id:
            raise Refused("not_attendee", "Attendee #%(id)d is not in this event.", {"id": aid})
        if a.removed_at is not None:
            raise Refused("already_removed", "Attendee #%(id)d was already removed.", {"id": aid})
    return [found[aid] for aid in sorted(set(ids))]


def preview_removal(session: Session, event_id: int, ids: Sequence[int]) -> list[PitchChange]:
    """How each pitch's count and mean would change if these attendees were removed."""
    _active_in_event(session, event_id, ids)
    states = queries.load_states(session, event_id)
    state = states[0]
    before = queries.counts_by_pitch(session, event_id)
    gone: dict[int, Counter[int]] = defaultdict(Counter)
    for pitch_id, score in session.exec(
        select(Vote.pitch_id, Vote.score).where(
            Vote.event_id == event_id, col(Vote.attendee_id).in_(set(ids))
        )
    ).all():
        gone[pitch_id][score] += 1
    changes = []
    for p in (p for s in states for p in s.pitches):
        counts = before.get(p.id, {})
        after = {s: n - gone[p.id][s] for s, n in counts.items()}
        b = summarize(counts, scale_min=state.scale_min, scale_max=state.scale_max)
        a = summarize(after, scale_min=state.scale_min, scale_max=state.scale_max)
        changes.append(PitchChange(p.id, p.title, b.n, b.mean, a.n, a.mean))
    return changes


# ------------------------------------------------------------------ changes


def _lock(session: Session, event_id: int) -> None:
    """The event row, then every pitch row: a vote batch in flight (FOR SHARE on its
    pitch) either commits before this change or sees it (see ``commit_votes``)."""
    queries.lock_event(session, event_id)
    session.exec(select(Pitch.id).where(Pitch.event_id == event_id).with_for_update()).all()


def _new_rounds(session: Session, event_id: int) -> None:
    """Fresh tally keys for every pitch, rebuilt from SQL by ``sync_live``."""
    session.execute(
        update(Pitch).where(col(Pitch.event_id) == event_id).values(round=Pitch.round + 1)
    )
    queries.lock_event(session, event_id)
    bump_versions(session, event_id)


def clean_reason(reason: str) -> str:
    try:
        return clean_text(reason, field="reason", max_length=MAX_REASON)
    except InvalidInput:
        raise Refused(
            "bad_reason", "The reason must be plain text of at most 200 characters."
        ) from None


def remove_attendees(
    session: Session, event_id: int, ids: Sequence[int], *, reason: str, actor: str
) -> AuditEntry:
    _lock(session, event_id)
    try:
        attendees = _active_in_event(session, event_id, ids)
    except Refused:
        session.rollback()
        raise
    chosen = [a.id for a in attendees]
    votes = session.exec(select(Vote).where(col(Vote.attendee_id).in_(chosen))).all()
    entry = AuditEntry(
        event_id=event_id,
        action="remove",
        actor=actor,
        reason=reason,
        attendees=len(chosen),
        votes=len(votes),
        attendee_ids=json.dumps(chosen),
    )
    session.add(entry)
    session.flush()
    assert entry.id is not None
    for v in votes:
        session.add(
            RemovedVote(
                audit_id=entry.id,
                event_id=event_id,
                pitch_id=v.pitch_id,
                attendee_id=v.attendee_id,
                score=v.score,
                seq=v.seq,
                updated_at=v.updated_at,
            )
        )
    session.execute(delete(Vote).where(col(Vote.attendee_id).in_(chosen)))
    now = utcnow()
    session.execute(update(Attendee).where(col(Attendee.id).in_(chosen)).values(removed_at=now))
    _new_rounds(session, event_id)
    session.commit()
    return entry


def undo_removal(session: Session, event_id: int, audit_id: int, *, actor: str) -> AuditEntry:
    _lock(session, event_id)
    entry = session.get(AuditEntry, audit_id)
    refusal: Refused | None = None
    if admission.admission_of(session, event_id).closed_at is not None:
        refusal = Refused("event_closed", "The event is closed: removals can no longer be undone.")
    elif entry is None or entry.event_id != event_id or entry.action != "remove":
        refusal = Refused("no_removal", "There is no such removal in this event.")
    elif entry.undone_at is not None:
        refusal = Refused("already_undone", "This removal was already undone.")
    if refusal is not None:
        session.rollback()
        raise refusal
    assert entry is not None
    ids = [int(x) for x in json.loads(entry.attendee_ids)]
    pitches = set(session.exec(select(Pitch.id).where(Pitch.event_id == event_id)).all())
    archived = session.exec(select(RemovedVote).where(RemovedVote.audit_id == audit_id)).all()
    for v in archived:
        if v.pitch_id in pitches:
            session.add(
                Vote(
                    event_id=event_id,
                    pitch_id=v.pitch_id,
                    attendee_id=v.attendee_id,
                    score=v.score,
                    seq=v.seq,
                    updated_at=v.updated_at,
                )
            )
    session.execute(delete(RemovedVote).where(col(RemovedVote.audit_id) == audit_id))
    session.execute(update(Attendee).where(col(Attendee.id).in_(ids)).values(removed_at=None))
    entry.undone_at = utcnow()
    session.add(entry)
    undo = AuditEntry(
        event_id=event_id,
        action="undo",
        actor=actor,
        reason=f"undo of removal #{audit_id}",
        attendees=len(ids),
        votes=len(archived),
        attendee_ids=entry.attendee_ids,
    )
    session.add(undo)
    _new_rounds(session, event_id)
    session.commit()
    return undo


def merge_attendees(
    session: Session, event_id: int, keep_id: int, other_id: int, *, reason: str, actor: str
) -> AuditEntry:
    """One person, two attendees: ``other``'s votes move to ``keep``; where both voted
    on a pitch, the newer vote stays. ``other`` is removed (its device must rejoin)."""
    _lock(session, event_id)
    try:
        if keep_id == other_id:
            raise Refused("merge_same", "Choose two different attendees to merge.")
        _active_in_event(session, event_id, [keep_id, other_id])
    except Refused:
        session.rollback()
        raise
    mine = {v.pitch_id: v for v in session.exec(select(Vote).where(Vote.attendee_id == keep_id))}
    theirs = list(session.exec(select(Vote).where(Vote.attendee_id == other_id)).all())
    for v in theirs:
        kept = mine.get(v.pitch_id)
        if kept is None:
            v.attendee_id = keep_id
            session.add(v)
            continue
        if (v.updated_at, v.seq) > (kept.updated_at, kept.seq):
            kept.score, kept.updated_at = v.score, v.updated_at
        # The kept phone's next rating must still win: keep the larger seq.
        kept.seq = max(kept.seq, v.seq)
        session.add(kept)
        session.delete(v)
    other = session.get(Attendee, other_id)
    assert other is not None
    other.removed_at = utcnow()
    session.add(other)
    entry = AuditEntry(
        event_id=event_id,
        action="merge",
        actor=actor,
        reason=reason,
        attendees=1,
        votes=len(theirs),
        attendee_ids=json.dumps([keep_id, other_id]),
    )
    session.add(entry)
    _new_rounds(session, event_id)
    session.commit()
    return entry


async def sync_live(
    event_id: int, *, db: Database, tallies: Tallies, bus: Bus, namespace: str
) -> EventState:
    """After a change: rebuild the new rounds' tallies from SQL, then announce the state
    (screens switch to the new keys only once they hold the exact counts)."""
    states: list[EventState] = await db.run_read(queries.load_states, event_id)
    rows = await db.run_read(queries.votes_of_event, event_id)
    rounds = await db.run_read(queries.pitch_rounds, event_id)
    await tallies.rebuild(
        event_id,
        [TallyVote(pid, rounds[pid], aid, score, seq) for pid, aid, score, seq in rows],
    )
    await publish_states(states[1:], bus=bus, namespace=namespace)
    return await publish_state(states[0], bus=bus, namespace=namespace)


# The organiser's changes as rules: the transaction, then ``sync_live`` (which publishes).


async def remove(
    event_id: int,
    ids: Sequence[int],
    *,
    reason: str,
    actor: str,
    db: Database,
    tallies: Tallies,
    bus: Bus,
    namespace: str,
) -> AuditEntry:
    entry = await db.run(remove_attendees, event_id, ids, reason=clean_reason(reason), actor=actor)
    await sync_live(event_id, db=db, tallies=tallies, bus=bus, namespace=namespace)
    return entry


async def undo(
    event_id: int,
    audit_id: int,
    *,
    actor: str,
    db: Database,
    tallies: Tallies,
    bus: Bus,
    namespace: str,
) -> AuditEntry:
    entry = await db.run(undo_removal, event_id, audit_id, actor=actor)
    await sync_live(event_id, db=db, tallies=tallies, bus=bus, namespace=namespace)
    return entry


async def merge(
    event_id: int,
    keep_id: int,
    other_id: int,
    *,
    reason: str,
    actor: str,
    db: Database,
    tallies: Tallies,
    bus: Bus,
    namespace: str,
) -> AuditEntry:
    entry = await db.run(
        merge_attendees, event_id, keep_id, other_id, reason=clean_reason(reason), actor=actor
    )
    await sync_live(event_id, db=db, tallies=tallies, bus=bus, namespace=namespace)
    return entry


def attendee_panel(session: Session, event_id: int) -> dict[str, object]:
    """What the console's attendees part shows (one read)."""
    adm = admission.admission_of(session, event_id)
    rows = attendee_rows(session, event_id)
    flagged = Counter(f for r in rows for f in r.flags)
    return {
        "admission": adm,
        "attendee_rows": rows,
        "flag_labels": FLAGS,
        "flag_counts": dict(flagged),
        "audit": admission.audit_of_event(session, event_id),
        "invites": admission.invites_of_event(session, event_id),
        "provenance": admission.provenance(session, event_id),
    }
