"""The live protocol: every WebSocket message type, defined once.

Browsers dispatch on ``type``. The README's protocol table lists each type here, and a
test fails when one is missing from it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from eventapp.enums import Role

# ---------------------------------------------------------------- client -> server


class _Client(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Client):
    """First message on every socket: who is speaking.

    Attendees send their device token (the cookie is used when it is absent); screens
    send their role and the secret key from their link.
    """

    type: Literal["hello"]
    role: Role = Role.ATTENDEE
    token: str | None = Field(default=None, max_length=128)
    key: str | None = Field(default=None, max_length=128)


class Vote(_Client):
    """Rate a pitch. ``seq`` grows with every rating a phone makes, so a resent or
    reordered older rating never overwrites a newer one and never counts twice."""

    type: Literal["vote"]
    pitch_id: int
    score: int
    seq: int = Field(ge=0, lt=2**53)


class Ping(_Client):
    type: Literal["ping"]


class OpenVoting(_Client):
    type: Literal["open_voting"]
    pitch_id: int | None = None  # default: the pitch on stage


class CloseVoting(_Client):
    type: Literal["close_voting"]


class Reveal(_Client):
    type: Literal["reveal"]
    pitch_id: int | None = None


class Goto(_Client):
    type: Literal["goto"]
    pitch_id: int


class Next(_Client):
    type: Literal["next"]


class ResetVotes(_Client):
    """Delete a pitch's votes. ``confirm`` must be true: the screen asks first."""

    type: Literal["reset_votes"]
    pitch_id: int
    confirm: bool


ClientMessage = Annotated[
    Hello | Vote | Ping | OpenVoting | CloseVoting | Reveal | Goto | Next | ResetVotes,
    Field(discriminator="type"),
]

_client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)


class ProtocolError(Exception):
    """A message the server refuses. ``code`` and ``params`` are what screens render in
    their reader's language (static/js/live.js, ``EA.errorText``); ``message`` is the
    English text with the parameters filled in, for logs and tools."""

    def __init__(self, code: str, message: str, **params: str | int) -> None:
        self.code = code
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)


def parse_client_message(text: str | bytes, *, max_bytes: int) -> _Client:
    if len(text) > max_bytes:
        raise ProtocolError("too_large", "Message larger than %(limit)d bytes.", limit=max_bytes)
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("bad_json", "Message is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "Message must be a JSON object.")
    kind = data.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type", "Unknown message type: %(type)s.", type=repr(str(kind)[:40])
        )
    try:
        message: _Client = _client_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or kind
        raise ProtocolError(
            "bad_message", "Invalid %(field)s: %(detail)s.", field=where, detail=first["msg"]
        ) from None
    return message


# ---------------------------------------------------------------- server -> client


def server_message(type_: str, **fields: Any) -> str:
    """Serialise a server message once; the same text goes to every socket."""
    assert type_ in SERVER_TYPES, type_
    return json.dumps({"type": type_, **fields}, separators=(",", ":"), ensure_ascii=False)


SERVER_TYPES: dict[str, str] = {
    "welcome": "Reply to hello: role, event state, and (attendees) my votes.",
    "state": "Event state changed: pitch on stage, pitch states, voting open or closed.",
    "screen": "Moderator/projector view: turnout, tally, leaderboard (at most ~10/s).",
    "vote_ack": "A vote is committed to the database (pitch_id, score, seq).",
    "command_ack": "A moderator command took effect.",
    "error": "A message was refused: code, params, message (English), and the refused type.",
    "pong": "Reply to ping.",
    "contact_request": "Networking: someone asks to exchange contacts (link_id, attendee_id, "
    "name, organization; never contact fields).",
    "contact_answer": "Networking: my request was accepted or declined (attendee_id, name, "
    "accepted).",
    "contact_exchanged": "Networking: someone scanned my code and confirmed (attendee_id, name, "
    "organization).",
    "partner_interest": "Networking: someone wants to get involved in my pitch (pitch_id, "
    "attendee_id, name, organization, role).",
}

CLIENT_TYPES: dict[str, str] = {
    "hello": "Identify the socket: attendee token, or screen role and key.",
    "vote": "Rate a pitch: pitch_id, score, seq (grows with each rating).",
    "ping": "Keep-alive; answered by pong.",
    "open_voting": "Moderator: open voting on a pitch (default: the one on stage).",
    "close_voting": "Moderator: close voting on the open pitch.",
    "reveal": "Moderator: show a pitch's results on the projector.",
    "goto": "Moderator: put a pitch on stage.",
    "next": "Moderator: put the next pitch on stage.",
    "reset_votes": "Moderator: delete a pitch's votes (confirm: true).",
}
