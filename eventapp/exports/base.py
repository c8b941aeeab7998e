"""Exports: short declarative classes in a registry, written as CSV, XLSX or JSON.

An exporter turns the event into one ``Table``. The numbers of "votes per pitch" come
from ``summarize`` and ``rank_pitches``, the same functions that make the projector's
leaderboard, over the same counts (SQL, which the live tallies mirror), so exported
totals equal what the projector showed.

Spreadsheet cells that begin with = + - @ (or a tab or carriage return) are prefixed with
an apostrophe, so a name like ``=HYPERLINK(...)`` stays text in Excel (formula injection).
JSON keeps values exactly: it is not opened by a spreadsheet.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.live.hub import results_visible  # the projector's own rule (pure, no live state)
from eventapp.organizing import queries as store
from eventapp.voting import queries
from eventapp.voting.queries import EventState, PitchInfo
from eventapp.voting.stats import Standing, Summary, rank_pitches, summarize

Cell = str | int | float | None
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
_RISKY = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[list[Cell]]
    note: str = ""


@dataclass(frozen=True)
class ExportContext:
    """What every exporter may read: the database, the event, the ranking's weight."""

    db: Database
    event: Event
    prior_weight: float = 5.0

    @property
    def event_id(self) -> int:
        assert self.event.id is not None
        return self.event.id

    def state(self) -> EventState:
        return self.db.read(queries.load_state, self.event_id)

    def pseudonym(self, attendee_id: int) -> str:
        """A stable voter id that cannot be turned back into the attendee without the
        event's secret salt (keyed HMAC, not a plain hash of a guessable number)."""
        digest = hmac.new(
            self.event.export_salt.encode(), str(attendee_id).encode(), hashlib.sha256
        )
        return "v-" + digest.hexdigest()[:16]


class Exporter:
    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    group: ClassVar[str] = "votes"

    def table(self, ctx: ExportContext) -> Table:
        raise NotImplementedError


EXPORTERS: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    EXPORTERS[cls.slug] = cls
    return cls


# ------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class PitchResult:
    """One pitch's full numbers: the projector's summary plus median and spread.

    ``adjusted``/``rank`` rank every voted pitch (the final table). ``shown_adjusted``/
    ``shown_rank`` rank only the pitches whose results the projector may show, exactly as
    it does; with blind results they differ until every pitch is revealed."""

    pitch_id: int
    position: int
    title: str
    presenter: str
    state: str
    summary: Summary
    median: float | None
    stdev: float | None
    adjusted: float | None
    rank: int | None
    shown: bool = True
    shown_adjusted: float | None = None
    shown_rank: int | None = None


def _spread(summary: Summary) -> tuple[float | None, float | None]:
    values = [s for s, c in summary.distribution.items() for _ in range(c)]
    median = statistics.median(values) if values else None
    # Sample standard deviation (n-1): the audience is a sample of opinions.
    stdev = statistics.stdev(values) if len(values) > 1 else None
    return median, stdev


def _standings(
    state: EventState,
    summaries: dict[int, Summary],
    pitches: Sequence[PitchInfo],
    prior_weight: float,
) -> dict[int, Standing]:
    return {
        s.pitch_id: s
        for s in rank_pitches(
            [(p.id, p.title, summaries[p.id]) for p in pitches],
            prior_weight=prior_weight,
            scale_mid=(state.scale_min + state.scale_max) / 2,
        )
    }


def pitch_results(
    state: EventState, counts: dict[int, dict[int, int]], *, prior_weight: float
) -> list[PitchResult]:
    summaries = {
        p.id: summarize(counts.get(p.id, {}), scale_min=state.scale_min, scale_max=state.scale_max)
        for p in state.pitches
    }
    visible = [p for p in state.pitches if results_visible(state, p)]
    final = _standings(state, summaries, state.pitches, prior_weight)
    shown = _standings(state, summaries, visible, prior_weight)
    results = []
    for index, p in enumerate(state.pitches, start=1):
        median, stdev = _spread(summaries[p.id])
        standing, on_screen = final.get(p.id), shown.get(p.id)
        results.append(
            PitchResult(
                p.id,
                index,
                p.title,
                p.presenter,
                p.state.value,
                summaries[p.id],
                median,
                stdev,
                standing.adjusted if standing else None,
                standing.rank if standing else None,
                p in visible,
                on_screen.adjusted if on_screen else None,
                on_screen.rank if on_screen else None,
            )
        )
    return results


def results_of(ctx: ExportContext) -> tuple[EventState, list[PitchResult]]:
    state = ctx.state()
    counts = ctx.db.read(store.counts_by_pitch, ctx.event_id)
    return state, pitch_results(state, counts, prior_weight=ctx.prior_weight)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# ------------------------------------------------------------------ vote exporters


@register
class VotesPerPitch(Exporter):
    slug = "votes"
    title = "Votes per pitch"
    description = (
        "n, mean, median, standard deviation, distribution, adjusted mean and rank "
        "of every pitch: the projector's numbers."
    )

    def table(self, ctx: ExportContext) -> Table:
        state, results = results_of(ctx)
        scores = range(state.scale_min, state.scale_max + 1)
        columns = (
            "rank",
            "position",
            "pitch",
            "presenter",
            "state",
            "n",
            "mean",
            "median",
            "sd",
            "adjusted_mean",
            *(f"votes_{s}" for s in scores),
            "shown",
            "rank_all",
            "adjusted_mean_all",
        )
        rows: list[list[Cell]] = [
            [
                r.shown_rank,
                r.position,
                r.title,
                r.presenter,
                r.state,
                r.summary.n,
                _round(r.summary.mean),
                r.median,
                _round(r.stdev),
                _round(r.shown_adjusted),
                *(r.summary.distribution[s] for s in scores),
                "yes" if r.shown else "no",
                r.rank,
                _round(r.adjusted),
            ]
            for r in sorted(results, key=lambda r: (r.rank is None, r.rank or 0, r.position))
        ]
        return Table(
            columns,
            rows,
            "rank, adjusted_mean: as on the projector (pitches whose "
            "results were shown). rank_all, adjusted_mean_all: every voted pitch. "
            f"Adjusted mean: Bayesian average with {ctx.prior_weight:g} virtual "
            "votes at the overall mean. sd: sample standard deviation.",
        )


@register
class RawVotes(Exporter):
    slug = "raw-votes"
    title = "Raw votes"
    description = "Every vote with a pseudonymous voter id (no names) and its time."

    def table(self, ctx: ExportContext) -> Table:
        titles = {p.id: (p.position + 1, p.title) for p in ctx.state().pitches}
        rows: list[list[Cell]] = []
        for v in ctx.db.read(store.raw_votes, ctx.event_id):
            position, title = titles.get(v.pitch_id, (None, ""))
            rows.append(
                [
                    ctx.pseudonym(v.attendee_id),
                    position,
                    title,
                    v.score,
                    v.updated_at.isoformat(timespec="seconds"),
                ]
            )
        return Table(
            ("voter", "position", "pitch", "score", "time"),
            rows,
            "voter: keyed pseudonym, the same for one person across pitches.",
        )


@register
class Partners(Exporter):
    slug = "partners"
    title = "Partner list"
    description = "The organisations imported as partners, with type and contact."
    group = "attendees"

    def table(self, ctx: ExportContext) -> Table:
        rows: list[list[Cell]] = [
            [p.name, p.org_type, p.contact, p.email]
            for p in ctx.db.read(store.partners_of_event, ctx.event_id)
        ]
        return Table(("organisation", "type", "contact", "email"), rows)


# ------------------------------------------------------------------ writers


def neutralise(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(_RISKY):
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if c is None else neutralise(c) for c in row])
    # A byte-order mark makes Excel read the umlauts as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table, title: str) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(table.columns))
    for row in table.rows:
        sheet.append([neutralise(c) for c in row])
    if table.note:
        sheet.append([])
        sheet.append([neutralise(table.note)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_json(table: Table, slug: str, event: Event) -> bytes:
    body = {
        "export": slug,
        "event": {"code": event.code, "name": event.name},
        "note": table.note,
        "columns": list(table.columns),
        "rows": [dict(zip(table.columns, r, strict=True)) for r in table.rows],
    }
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes = field(repr=False)


WRITERS: dict[str, Callable[[Table, str, Event], bytes]] = {
    "csv": lambda t, _s, _e: to_csv(t),
    "xlsx": lambda t, s, _e: to_xlsx(t, s),
    "json": to_json,
}


def export(slug: str, fmt: str, ctx: ExportContext) -> ExportFile:
    """Run one registered exporter and write it in one format (raises KeyError)."""
    exporter = EXPORTERS[slug]()
    writer = WRITERS[fmt]
    content = writer(exporter.table(ctx), slug, ctx.event)
    return ExportFile(f"{ctx.event.code}-{slug}.{fmt}", FORMATS[fmt], content)


def listing() -> Sequence[type[Exporter]]:
    return list(EXPORTERS.values())


# The attendee and match exporters read the networking tables; importing registers them.
from eventapp.exports import networking as _matches  # noqa: E402,F401
