"""Vote exporters: per-pitch results (the projector's numbers plus median and spread),
the raw votes under a pseudonym, and the partner list."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from eventapp.admission import queries as admission
from eventapp.core import queries as shared
from eventapp.exports.base import Cell, ExportContext, Exporter, Table
from eventapp.i18n import N_
from eventapp.voting import queries
from eventapp.voting.queries import EventState, PitchInfo, SessionInfo
from eventapp.voting.stats import Standing, Summary, rank_pitches, results_visible, summarize


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
    # The stage the pitch is on (issue 15): ranks are per stage, as each projector shows.
    stage_id: int = 0
    stage: str = ""
    # The session of the stage's agenda the pitch is in (None: in none).
    session: SessionInfo | None = None

    @property
    def session_title(self) -> str:
        return self.session.title if self.session is not None else ""


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
    state: EventState,
    counts: dict[int, dict[int, int]],
    *,
    prior_weight: float,
    sessions: dict[int, SessionInfo] | None = None,
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
                state.stage_id,
                state.stage_name,
                (sessions or {}).get(p.id),
            )
        )
    return results


def results_of(ctx: ExportContext) -> tuple[EventState, list[PitchResult]]:
    """The first stage's state (the event's scale and labels) and every stage's results,
    stage by stage, each ranked within its stage as its projector ranks them."""
    states = ctx.states()
    counts = ctx.db.read(queries.counts_by_pitch, ctx.event_id)
    sessions = ctx.pitch_sessions()
    results = [
        r
        for state in states
        for r in pitch_results(state, counts, prior_weight=ctx.prior_weight, sessions=sessions)
    ]
    return states[0], results


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class VotesPerPitch(Exporter):
    slug = "votes"
    title = N_("Votes per pitch")
    description = N_(
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
            "stage",
            "session",
        )
        order = {
            stage_id: i for i, stage_id in enumerate(dict.fromkeys(r.stage_id for r in results))
        }
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
                r.stage,
                r.session_title,
            ]
            # Stage by stage; within a stage the fair rank first (the projector's and the
            # report's order), then the rest.
            for r in sorted(
                results,
                key=lambda r: (
                    order[r.stage_id],
                    r.shown_rank is None,
                    r.shown_rank or 0,
                    r.rank or 0,
                    r.position,
                ),
            )
        ]
        return Table(
            columns,
            rows,
            "rank, adjusted_mean: the fair rank and adjusted mean within the pitch's stage, "
            "as on its projector and in the report (pitches whose results were shown). "
            "rank_all, adjusted_mean_all: every voted pitch. "
            f"Adjusted mean: Bayesian average with {ctx.prior_weight:g} virtual "
            "votes at the overall mean. sd: sample standard deviation. "
            "session: the session of the stage's agenda (empty: in none). "
            + ctx.db.read(admission.provenance, ctx.event_id).text(),
        )


class RawVotes(Exporter):
    slug = "raw-votes"
    title = N_("Raw votes")
    description = N_("Every vote with a pseudonymous voter id (no names) and its time.")

    def table(self, ctx: ExportContext) -> Table:
        titles = {
            p.id: (p.position + 1, p.title, state.stage_name)
            for state in ctx.states()
            for p in state.pitches
        }
        sessions = ctx.pitch_sessions()
        rows: list[list[Cell]] = []
        for v in ctx.db.read(queries.raw_votes, ctx.event_id):
            position, title, stage = titles.get(v.pitch_id, (None, "", ""))
            rows.append(
                [
                    ctx.pseudonym(v.attendee_id),
                    position,
                    title,
                    v.score,
                    ctx.local_time(v.updated_at),
                    stage,
                    ctx.session_title(sessions, v.pitch_id),
                ]
            )
        return Table(
            ("voter", "position", "pitch", "score", "time", "stage", "session"),
            rows,
            "voter: keyed pseudonym, the same for one person across pitches. "
            + ctx.db.read(admission.provenance, ctx.event_id).text(),
        )


class Partners(Exporter):
    slug = "partners"
    title = N_("Partner list")
    description = N_("The organisations imported as partners, with type and contact.")
    group = "attendees"

    def table(self, ctx: ExportContext) -> Table:
        rows: list[list[Cell]] = [
            [p.name, p.org_type, p.contact, p.email]
            for p in ctx.db.read(shared.partners_of_event, ctx.event_id)
        ]
        return Table(("organisation", "type", "contact", "email"), rows)
