"""The questions part of the live protocol: client messages as pydantic models, and the
server message types. Kept here (not in eventapp/messages.py) so the area stays
self-contained; the live pump parses these when the core protocol does not know a type.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from eventapp.errors import Refused
from eventapp.questions.models import MAX_QUESTION_LENGTH, HideReason


class _QuestionClient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AskQuestion(_QuestionClient):
    """Ask the presenter of ``pitch_id``. ``anonymous``: do not show my name."""

    type: Literal["ask_question"]
    pitch_id: int
    # Generous here: the event's own (lower) limit is checked with a translated message.
    text: str = Field(max_length=MAX_QUESTION_LENGTH * 2)
    anonymous: bool = False


class UpvoteQuestion(_QuestionClient):
    """Upvote (``up: true``) or take the upvote back (``up: false``); idempotent.
    ``seq`` grows with every wish a phone makes (as on votes): a wish older than the
    stored one, arriving late on a socket that died, changes nothing."""

    type: Literal["upvote_question"]
    question_id: int
    up: bool = True
    seq: Annotated[int, Strict(), Field(ge=0, lt=2**53)] = 0


ModerationAction = Literal[
    "approve", "answer", "unanswer", "highlight", "unhighlight", "hide", "restore"
]


class ModerateQuestion(_QuestionClient):
    """Moderator: change a question's state; ``reason`` is required for ``hide``."""

    type: Literal["moderate_question"]
    question_id: int
    action: ModerationAction
    reason: HideReason | None = None


QuestionMessage = Annotated[
    AskQuestion | UpvoteQuestion | ModerateQuestion, Field(discriminator="type")
]
_adapter: TypeAdapter[Any] = TypeAdapter(QuestionMessage)

CLIENT_TYPES: dict[str, str] = {
    "ask_question": "Attendee: ask the presenter of a pitch (pitch_id, text, anonymous).",
    "upvote_question": "Attendee: upvote a question or take it back (question_id, up, seq).",
    "moderate_question": "Moderator: approve, answer, unanswer, highlight, unhighlight, hide "
    "(with reason) or restore a question (question_id, action, reason).",
}

SERVER_TYPES: dict[str, str] = {
    "questions": "Questions of the pitches open for questions, per role (coalesced).",
    "my_questions": "Attendee: my own questions with their states, my upvotes, my pitches.",
    "question_ack": "A question action took effect (action, question_id; for an upvote "
    "the stored up and seq).",
}


def parse_question_message(
    text: str | bytes, *, max_bytes: int
) -> AskQuestion | UpvoteQuestion | ModerateQuestion | None:
    """The message as a question message, None when its type is not one of ours; raises
    Refused for one of ours that is malformed."""
    if len(text) > max_bytes:
        return None
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("type") not in CLIENT_TYPES:
        return None
    try:
        message: AskQuestion | UpvoteQuestion | ModerateQuestion = _adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or str(data["type"])
        raise Refused("bad_message", None, {"field": where, "detail": first["msg"]}) from None
    return message


def question_message(type_: str, **fields: Any) -> str:
    """Serialise a questions server message once; the same text goes to every socket."""
    assert type_ in SERVER_TYPES, type_
    return json.dumps({"type": type_, **fields}, separators=(",", ":"), ensure_ascii=False)
