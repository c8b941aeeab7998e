"""Question tables. SQL is the truth: upvote counts are counted from ``question_upvote``
rows (unique per question and attendee, ``up``), never kept in a counter that could drift."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from eventapp.core.models import utcnow


class QuestionState(StrEnum):
    WAITING = "waiting"  # pre-moderation: only the asker and the moderator see it
    SHOWN = "shown"  # visible to everyone, can be upvoted
    ANSWERED = "answered"  # visible, marked as answered by the moderator
    HIDDEN = "hidden"  # removed by the moderator, with a reason category


# What everyone may see (and upvote); the rest is counted publicly, never listed.
PUBLIC_STATES = frozenset({QuestionState.SHOWN, QuestionState.ANSWERED})


class HideReason(StrEnum):
    """Reason categories for hiding, shown to the asker and counted publicly."""

    DUPLICATE = "duplicate"
    OFF_TOPIC = "off_topic"
    INAPPROPRIATE = "inappropriate"
    SPAM = "spam"


HIDE_REASON_LABELS: dict[HideReason, str] = {
    HideReason.DUPLICATE: "Duplicate",
    HideReason.OFF_TOPIC: "Off topic",
    HideReason.INAPPROPRIATE: "Inappropriate",
    HideReason.SPAM: "Spam",
}

# Hard ceiling of a question's length; the organiser's limit may only be lower.
MAX_QUESTION_LENGTH = 500


class Question(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    # Deleting a pitch (organiser console) deletes its questions with it.
    pitch_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("pitch.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    attendee_id: int = Field(foreign_key="attendee.id", index=True)
    text: str = Field(max_length=MAX_QUESTION_LENGTH)
    # The asker chose to show their name (only where the event allows anonymity at all).
    show_name: bool = False
    # A QuestionState value, stored as plain text (no database enum type to migrate).
    state: str = Field(default=QuestionState.SHOWN.value, max_length=16)
    hide_reason: str = Field(default="", max_length=24)
    # The one question the projector shows large (at most one per event).
    highlighted: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class QuestionUpvote(SQLModel, table=True):
    # One upvote per attendee and question: a resend or a second tap never counts twice.
    __table_args__ = (
        UniqueConstraint("question_id", "attendee_id", name="uq_question_upvote_question_attendee"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Deleting a question ("delete my data" of its asker) deletes the upvotes on it.
    question_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("question.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    attendee_id: int = Field(foreign_key="attendee.id", index=True)
    # The attendee's newest wish for this question. A taken-back upvote stays as a row
    # with ``up`` false, so that an older wish arriving late (from a socket that died, on
    # another process) cannot bring it back: a wish applies only if its ``seq`` is not
    # older than the stored one (the phone's seq, as on votes).
    up: bool = True
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
