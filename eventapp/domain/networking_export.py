"""Match exports and the network picture, read from the networking tables (issue 4).

Networking is built alongside; until its tables exist these exporters are registered but
produce empty tables with a note saying so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from eventapp.domain.exports import ExportContext, Exporter, Table, register
from eventapp.store.db import Database

NOT_YET = "Networking data is not available in this version."


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
        return dict(counts.most_common())


def connection_count(db: Database, event_id: int) -> int:
    return 0


def network_of(ctx: ExportContext) -> Network:
    return Network(note=NOT_YET)


@register
class ContactExchanges(Exporter):
    slug = "contacts"
    title = "Contact exchanges"
    description = "Who exchanged contacts: names only where both consented, otherwise counts."
    group = "matches"

    def table(self, ctx: ExportContext) -> Table:
        return Table(("person_a", "organisation_a", "person_b", "organisation_b", "when"), [],
                     NOT_YET)


@register
class PartnerInterests(Exporter):
    slug = "partner-interests"
    title = "Pitch-partner interests"
    description = "Per pitch, who wants to partner on it, with the role they offered."
    group = "matches"

    def table(self, ctx: ExportContext) -> Table:
        return Table(("position", "pitch", "person", "organisation", "role"), [], NOT_YET)


@register
class SuggestedMatches(Exporter):
    slug = "suggestions"
    title = "Suggested matches"
    description = "The matches the app suggested, with the reason given."
    group = "matches"

    def table(self, ctx: ExportContext) -> Table:
        return Table(("person_a", "person_b", "reason"), [], NOT_YET)
