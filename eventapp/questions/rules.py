"""Question rules: clean the text, ask, upvote, moderate, and the organiser's settings.

Every action is one SQL transaction (see queries); afterwards the caller marks the event's
questions as changed, and the hub's screen tick turns all changes of a tick into one
``questions`` message per screen role (nothing is sent per upvote).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError, OperationalError

from eventapp.core.db import Database
from eventapp.core.models import Event
from eventapp.core.validation import InvalidInput, clean_text
from eventapp.questions import queries as store
from eventapp.questions.models import MAX_QUESTION_LENGTH, HideReason, QuestionState
from eventapp.questions.queries import (
    Moderated,
    NewQuestion,
    QuestionView,
    Refused,
    StoredWish,
    UpvoteRow,
)

log = logging.getLogger(__name__)

MAX_OPEN_MINUTES = 240


def clean_question(text: object) -> str:
    """Trimmed text without control characters. Markup is kept as typed and always shown
    as text (the browser code builds the DOM with textContent)."""
    try:
        cleaned = clean_text(text, field="question", max_length=MAX_QUESTION_LENGTH)
    except InvalidInput as exc:
        if "longer" in exc.message:
            raise Refused(
                "too_long",
                "Your question is longer than %(limit)d characters.",
                limit=MAX_QUESTION_LENGTH,
            ) from None
        raise Refused(
            "bad_text", "Your question contains characters that cannot be shown."
        ) from None
    if not cleaned:
        raise Refused("empty", "Please write a question first.")
    return cleaned


async def ask_question(
    event_id: int,
    pitch_id: int,
    attendee_id: int,
    text: object,
    *,
    anonymous: bool,
    db: Database,
) -> QuestionView:
    new = NewQuestion(event_id, pitch_id, attendee_id, clean_question(text), not anonymous)
    return await db.run(store.add_question, new, store.now_utc())


class UpvoteWriter:
    """Commits upvotes in batches, off the event loop, like the vote writer: the first
    tap starts a transaction, taps arriving meanwhile go into the next one. ``submit``
    returns the wish stored once it is durable, or raises Refused."""

    def __init__(self, *, db: Database, batch_max: int = 500) -> None:
        self.db = db
        self.batch_max = batch_max
        self._queue: list[tuple[UpvoteRow, asyncio.Future[StoredWish]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, row: UpvoteRow) -> StoredWish:
        future: asyncio.Future[StoredWish] = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="upvote-writer")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.batch_max], self._queue[self.batch_max :]
            try:
                try:
                    verdicts = await self.db.run(
                        store.commit_upvotes, [r for r, _ in batch], store.now_utc()
                    )
                except (IntegrityError, OperationalError):
                    # PostgreSQL: another process's batch raced us (unique key, deadlock);
                    # once more, and the rows it wrote are simply there.
                    verdicts = await self.db.run(
                        store.commit_upvotes, [r for r, _ in batch], store.now_utc()
                    )
            except Exception as exc:
                log.warning("upvote batch of %d failed", len(batch), exc_info=True)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), verdict in zip(batch, verdicts, strict=True):
                if future.done():
                    continue
                if isinstance(verdict, Refused):
                    future.set_exception(verdict)
                else:
                    future.set_result(verdict)


async def upvote_question(
    event_id: int,
    question_id: int,
    attendee_id: int,
    *,
    up: bool,
    seq: int = 0,
    writer: UpvoteWriter,
) -> StoredWish:
    """Upvote (or take back) through the batching writer: the wish now stored (an older
    ``seq`` than the stored wish's changes nothing); raises Refused."""
    return await writer.submit(UpvoteRow(event_id, question_id, attendee_id, up, seq))


# action -> (new state, new highlight); None keeps what is there.
ACTIONS: dict[str, tuple[QuestionState | None, bool | None]] = {
    "approve": (QuestionState.SHOWN, None),
    "answer": (QuestionState.ANSWERED, None),
    "unanswer": (QuestionState.SHOWN, None),
    "highlight": (None, True),
    "unhighlight": (None, False),
    "hide": (QuestionState.HIDDEN, False),
    "restore": (QuestionState.SHOWN, None),
}


async def moderate_question(
    event_id: int,
    question_id: int,
    action: str,
    *,
    reason: str | None = None,
    db: Database,
) -> Moderated:
    if action not in ACTIONS:
        raise Refused("bad_action", "Unknown action.")
    state, highlight = ACTIONS[action]
    if action == "hide" and (reason is None or reason not in {r.value for r in HideReason}):
        raise Refused("reason_required", "Choose a reason for hiding the question.")
    return await db.run(
        store.moderate,
        event_id,
        question_id,
        state=state,
        reason=reason or "",
        highlight=highlight,
        now=store.now_utc(),
    )


def clean_question_settings(form: Mapping[str, str]) -> dict[str, object]:
    """The Q&A part of the organiser's settings form, as Event column values."""
    values: dict[str, object] = {
        "questions_enabled": form.get("questions", "") == "on",
        "questions_anonymous": form.get("questions_anonymous", "") == "on",
        "questions_premoderated": form.get("questions_premoderated", "") == "on",
        "questions_projector_top": form.get("questions_projector_top", "") == "on",
    }
    try:
        minutes = int(form.get("questions_open_minutes", "5"))
    except ValueError:
        raise InvalidInput("questions open after the pitch", "must be a whole number") from None
    if not 0 <= minutes <= MAX_OPEN_MINUTES:
        raise InvalidInput("questions open after the pitch", "must be between 0 and 240 minutes")
    values["questions_open_minutes"] = minutes
    try:
        length = int(form.get("question_max_length", "280"))
    except ValueError:
        raise InvalidInput("question length limit", "must be a whole number") from None
    if not 20 <= length <= MAX_QUESTION_LENGTH:
        raise InvalidInput("question length limit", "must be between 20 and 500 characters")
    values["question_max_length"] = length
    return values


def question_settings_form(event: Event) -> dict[str, str]:
    """The organiser form's Q&A values from an Event."""
    return {
        "questions": "on" if event.questions_enabled else "",
        "questions_anonymous": "on" if event.questions_anonymous else "",
        "questions_premoderated": "on" if event.questions_premoderated else "",
        "questions_projector_top": "on" if event.questions_projector_top else "",
        "questions_open_minutes": str(event.questions_open_minutes),
        "question_max_length": str(event.question_max_length),
    }
