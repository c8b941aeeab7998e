"""Match exports, the attendee list and the network picture, read from the networking
tables (issue 4).

Consent decides what is named: a person is named only while opted in to networking (their
recorded consent); a contact exchange is named only when it was accepted (both agreed to
it) and both people are opted in. Everything else is counted, not named.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from eventapp.core.db import Database
from eventapp.core.models import Attendee
from eventapp.exports.base import ExportContext, Exporter, PhoneNumber, Table
from eventapp.i18n import N_
from eventapp.networking import queries as net
from eventapp.networking.models import (
    ORG_TYPE_LABELS,
    PARTNER_ROLE_LABELS,
    ContactLink,
    LinkState,
    OrgType,
    PartnerRole,
)


@dataclass(frozen=True)
class Network:
    """Anonymous picture of who connected: nodes are attendees (by organisation type)."""

    nodes: dict[int, str] = field(default_factory=dict)  # attendee id -> organisation type
    edges: list[tuple[int, int]] = field(default_factory=list)
    note: str = ""

    @property
    def by_type(self) -> dict[str, int]:
        """Connections per organisation type (an edge counts for both ends' types)."""
        counts: Counter[str] = Counter()
        for a, b in self.edges:
            counts[self.nodes.get(a) or "–"] += 1
            counts[self.nodes.get(b) or "–"] += 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _org_label(value: str) -> str:
    try:
        return ORG_TYPE_LABELS[OrgType(value)]
    except ValueError:
        return ""


def _role_label(value: str, ctx: ExportContext) -> str:
    try:
        return ctx.fmt.gettext(PARTNER_ROLE_LABELS[PartnerRole(value)])
    except ValueError:
        return value


def _accepted(session: Session, event_id: int) -> list[tuple[int, int]]:
    rows = session.exec(
        select(ContactLink.low_id, ContactLink.high_id).where(
            ContactLink.event_id == event_id, ContactLink.state == LinkState.ACCEPTED
        )
    ).all()
    return [(int(a), int(b)) for a, b in rows]


def _people(ctx: ExportContext) -> dict[int, net.Person]:
    attendees = ctx.db.read(
        lambda s: list(
            s.exec(
                select(Attendee.id).where(
                    Attendee.event_id == ctx.event_id, col(Attendee.anonymised_at).is_(None)
                )
            ).all()
        )
    )
    return ctx.db.read(net.people, [int(a) for a in attendees if a is not None])


def connection_count(db: Database, event_id: int) -> int:
    """Contacts made: accepted exchanges (requests answered yes, or QR scans)."""
    return len(db.read(_accepted, event_id))


def network_of(ctx: ExportContext) -> Network:
    edges = ctx.db.read(_accepted, ctx.event_id)
    people = _people(ctx)
    nodes = {pid: _org_label(p.org_type) for pid, p in people.items() if p.opted_in}
    for a, b in edges:
        for end in (a, b):
            nodes.setdefault(end, _org_label(people[end].org_type) if end in people else "")
    return Network(nodes, edges)


def _named(p: net.Person | None) -> bool:
    return p is not None and p.opted_in and bool(p.name)


class Attendees(Exporter):
    slug = "attendees"
    title = N_("Attendees")
    description = N_(
        "Attendees with the fields they agreed to share; others only as an anonymous "
        "row id (never the raw votes' voter id). Deleted accounts are left out."
    )
    group = "attendees"

    def table(self, ctx: ExportContext) -> Table:
        rows: list[list[Any]] = []
        for pid, p in sorted(_people(ctx).items()):
            shared = p.shared_contact() if p.opted_in else {}
            rows.append(
                [
                    ctx.row_pseudonym(pid, export=self.slug),
                    p.name if p.opted_in else None,
                    p.organization if p.opted_in else None,
                    ctx.fmt.gettext(_org_label(p.org_type)) if p.opted_in else None,
                    p.role if p.opted_in else None,
                    shared.get("email"),
                    PhoneNumber.of(shared.get("phone")),
                    shared.get("website"),
                ]
            )
        return Table(
            (
                "attendee",
                "name",
                "organisation",
                "organisation_type",
                "role",
                "email",
                "phone",
                "website",
            ),
            rows,
            "Names and fields only for attendees opted in to networking; contact "
            "fields only where they chose to share them. attendee: an id of this export "
            "only; it does not match the voter id of the raw votes.",
        )


class ContactExchanges(Exporter):
    slug = "contacts"
    title = N_("Contact exchanges")
    description = N_("Who exchanged contacts: names only where both consented, otherwise counts.")
    group = "matches"

    def table(self, ctx: ExportContext) -> Table:
        people = _people(ctx)
        rows: list[list[Any]] = []
        unnamed: Counter[str] = Counter()
        for link in ctx.db.read(net.list_connections, ctx.event_id):
            a, b = people.get(link["a_id"]), people.get(link["b_id"])
            if link["state"] == LinkState.ACCEPTED and _named(a) and _named(b):
                assert a is not None and b is not None
                rows.append(
                    [
                        a.name,
                        a.organization,
                        b.name,
                        b.organization,
                        link["state"],
                        link["via"],
                        ctx.local_time(link["decided_at"] or link["created_at"]),
                        1,
                    ]
                )
            else:
                unnamed[str(link["state"])] += 1
        for state, n in sorted(unnamed.items()):
            rows.append([None, None, None, None, state, None, None, n])
        return Table(
            (
                "person_a",
                "organisation_a",
                "person_b",
                "organisation_b",
                "state",
                "via",
                "time",
                "count",
            ),
            rows,
            "Named rows: accepted exchanges between two people opted in to "
            "networking. Rows without names count the others by state.",
        )


class PartnerInterests(Exporter):
    slug = "partner-interests"
    title = N_("Pitch-partner interests")
    description = N_("Per pitch, who wants to partner on it, with the role they offered.")
    group = "matches"

    def table(self, ctx: ExportContext) -> Table:
        people = _people(ctx)
        places = ctx.pitch_places()
        sessions = ctx.pitch_sessions()
        rows: list[list[Any]] = []
        for item in ctx.db.read(net.list_partner_interests, ctx.event_id):
            person = people.get(item["attendee_id"])
            named = _named(person)
            position, stage = places.get(item["pitch_id"], (None, ""))
            rows.append(
                [
                    position,
                    item["pitch_title"],
                    item["name"] if named else None,
                    item["organization"] if named else None,
                    _role_label(item["role"], ctx),
                    item["note"] if named else None,
                    stage,
                    ctx.session_title(sessions, item["pitch_id"]),
                ]
            )
        return Table(
            ("position", "pitch", "person", "organisation", "role", "note", "stage", "session"),
            rows,
            "Names only for people opted in to networking.",
        )


class SuggestedMatches(Exporter):
    slug = "suggestions"
    title = N_("Suggested matches")
    description = N_("The matches the app suggested, with the reason given.")
    group = "matches"

    def table(self, ctx: ExportContext) -> Table:
        from eventapp.networking.suggestions import list_suggestions

        rows = [
            [r["name"], r["suggested_name"], r["rank"], r["score"], r["reasons"]]
            for r in ctx.db.read(list_suggestions, ctx.event_id, ctx.fmt.gettext)
        ]
        return Table(
            ("person", "suggested", "rank", "score", "reasons"),
            rows,
            "Only people opted in to networking are suggested or named.",
        )
