"""Every exporter, in the order the organiser console lists them.

An explicit tuple rather than registration on import: what is exported is visible in one
place, and importing a module never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventapp.exports.base import FORMATS, WRITERS, ExportContext, Exporter, ExportFile
from eventapp.exports.networking import (
    Attendees,
    ContactExchanges,
    PartnerInterests,
    SuggestedMatches,
)
from eventapp.exports.questions import Questions
from eventapp.exports.voting import Partners, RawVotes, VotesPerPitch

EXPORTERS: tuple[type[Exporter], ...] = (
    VotesPerPitch,
    RawVotes,
    Partners,
    Attendees,
    ContactExchanges,
    PartnerInterests,
    SuggestedMatches,
    Questions,
)
BY_SLUG: dict[str, type[Exporter]] = {e.slug: e for e in EXPORTERS}


def export(slug: str, fmt: str, ctx: ExportContext) -> ExportFile:
    """Run one exporter and write it in one format (raises KeyError for unknown ones)."""
    exporter = BY_SLUG[slug]()
    content = WRITERS[fmt](exporter.table(ctx), slug, ctx.event)
    name = (
        f"{ctx.event.code}-{slug}-excel.csv" if fmt == "excel" else f"{ctx.event.code}-{slug}.{fmt}"
    )
    return ExportFile(name, FORMATS[fmt], content)


def listing() -> Sequence[type[Exporter]]:
    return EXPORTERS
