"""Question exports (issue 16): every question per pitch with its upvotes and state, and
the per-pitch summary the report shows.

Consent decides what is named: the asker's name only where they chose to show it (and
have not deleted their data since); anonymous questions carry no name and no pseudonym,
so they cannot be linked to the asker's votes in the other exports.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventapp.exports.base import Cell, ExportContext, Exporter, Table
from eventapp.i18n import N_
from eventapp.questions import queries as qstore
from eventapp.questions.models import PUBLIC_STATES, QuestionState
from eventapp.questions.queries import QuestionView, aware

TOP_QUESTIONS = 3


@dataclass(frozen=True)
class PitchQuestions:
    """One pitch's questions for the report: counts by state and the most upvoted."""

    pitch_id: int
    position: int
    title: str
    asked: int
    answered: int
    waiting: int
    hidden: int
    upvotes: int
    top: tuple[QuestionView, ...]
    stage: str = ""  # the stage's name (issue 15); a one-stage event's is the event's
    stage_id: int = 0


def questions_by_pitch(ctx: ExportContext) -> list[PitchQuestions]:
    """Every stage's pitches, stage by stage, each numbered on its stage."""
    grouped = qstore.by_pitch(ctx.db.read(qstore.questions_of_event, ctx.event_id))
    out = []
    agenda = [
        (state, position, pitch)
        for state in ctx.states()
        for position, pitch in enumerate(state.pitches, start=1)
    ]
    for state, position, pitch in agenda:
        questions = grouped.get(pitch.id, [])
        counts = qstore.counts_by_state(questions)
        public = sorted(
            (q for q in questions if q.state in PUBLIC_STATES), key=lambda q: (-q.upvotes, q.id)
        )
        out.append(
            PitchQuestions(
                pitch_id=pitch.id,
                position=position,
                title=pitch.title,
                asked=len(questions),
                answered=counts[QuestionState.ANSWERED.value],
                waiting=counts[QuestionState.WAITING.value],
                hidden=counts[QuestionState.HIDDEN.value],
                upvotes=sum(q.upvotes for q in questions),
                top=tuple(public[:TOP_QUESTIONS]),
                stage=state.stage_name,
                stage_id=state.stage_id,
            )
        )
    return out


class Questions(Exporter):
    slug = "questions"
    title = N_("Questions to the presenters")
    description = N_(
        "Every question per pitch with its upvotes and state; the asker's name only where "
        "they chose to show it."
    )
    group = "questions"

    def table(self, ctx: ExportContext) -> Table:
        # Stage by stage, then the pitch's place on its stage.
        positions = {
            p.id: (stage_index, i, p.title, state.stage_name)
            for stage_index, state in enumerate(ctx.states())
            for i, p in enumerate(state.pitches, start=1)
        }
        sessions = ctx.pitch_sessions()
        rows: list[list[Cell]] = []
        questions = ctx.db.read(qstore.questions_of_event, ctx.event_id)
        for q in sorted(questions, key=lambda q: (positions[q.pitch_id][:2], -q.upvotes, q.id)):
            _, position, title, stage = positions[q.pitch_id]
            rows.append(
                [
                    position,
                    title,
                    q.id,
                    q.text,
                    q.name,
                    q.upvotes,
                    q.state.value,
                    q.hide_reason or None,
                    "yes" if q.highlighted else "no",
                    aware(q.created_at).isoformat(timespec="seconds"),
                    stage,
                    ctx.session_title(sessions, q.pitch_id),
                ]
            )
        return Table(
            (
                "pitch_position",
                "pitch",
                "question_id",
                "question",
                "asked_by",
                "upvotes",
                "state",
                "hide_reason",
                "on_projector",
                "asked_at_utc",
                "stage",
                "session",
            ),
            rows,
            "asked_by is empty where the asker chose to stay anonymous. Upvotes are counted "
            "from the stored upvotes, one per attendee and question.",
        )
