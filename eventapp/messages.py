"""The live protocol and the bus envelope: every message type, defined once, typed.

Client messages are parsed strictly (see ``parse_client_message``); server messages and
bus envelopes are pydantic models serialised once per broadcast (``encode``). The README's
protocol tables are checked against ``CLIENT_MODELS`` and ``SERVER_MODELS`` by a test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from eventapp.enums import Role
from eventapp.errors import Refused

# ``"4"``, ``4.0`` and ``true`` are not 4: a client that sends them has a bug to find.
StrictInt = Annotated[int, Strict()]
StrictBool = Annotated[bool, Strict()]
Id = Annotated[int, Strict(), Field(ge=1, lt=2**63)]

# Messages are flat objects; the deepest legal one (``hello``) has depth 1. Anything
# nested deeper than this is refused before it is parsed.
MAX_DEPTH = 4

# ---------------------------------------------------------------- client -> server


class _Client(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Client):
    """First message on every socket: who is speaking.

    Attendees send their device token (the cookie is used when it is absent); screens
    send their role and the secret key from their link. ``stage`` (issue 15): the stage
    the phone is on (default: the first); a screen's key names its own stage, and only
    the organiser's key may choose one.
    """

    type: Literal["hello"]
    role: Role = Role.ATTENDEE
    token: str | None = Field(default=None, max_length=128)
    key: str | None = Field(default=None, max_length=128)
    stage: Id | None = None
    # Projector: "conference" for the leaderboard across every stage (several stages).
    view: Literal["stage", "conference"] = "stage"


class SwitchStage(_Client):
    """A phone moves to another stage of the conference (one tap on the stage picker):
    it follows that stage's pitch and votes there. Its identity and votes stay."""

    type: Literal["switch_stage"]
    stage_id: Id


class Vote(_Client):
    """Rate a pitch. ``seq`` grows with every rating a phone makes, so a resent or
    reordered older rating never overwrites a newer one and never counts twice."""

    type: Literal["vote"]
    pitch_id: Id
    score: StrictInt
    seq: Annotated[int, Strict(), Field(ge=0, lt=2**53)]


class Ping(_Client):
    type: Literal["ping"]


class OpenVoting(_Client):
    type: Literal["open_voting"]
    pitch_id: Id | None = None  # default: the pitch on stage


class CloseVoting(_Client):
    type: Literal["close_voting"]


class Reveal(_Client):
    type: Literal["reveal"]
    pitch_id: Id | None = None


class Goto(_Client):
    type: Literal["goto"]
    pitch_id: Id


class Next(_Client):
    type: Literal["next"]


class ResetVotes(_Client):
    """Delete a pitch's votes. ``confirm`` must be true: the screen asks first."""

    type: Literal["reset_votes"]
    pitch_id: Id
    confirm: StrictBool


ClientMessage = Annotated[
    Hello
    | Vote
    | Ping
    | OpenVoting
    | CloseVoting
    | Reveal
    | Goto
    | Next
    | ResetVotes
    | SwitchStage,
    Field(discriminator="type"),
]
CLIENT_MODELS: dict[str, type[_Client]] = {
    typ.model_fields["type"].annotation.__args__[0]: typ  # type: ignore[union-attr]
    for typ in (
        Hello,
        Vote,
        Ping,
        OpenVoting,
        CloseVoting,
        Reveal,
        Goto,
        Next,
        ResetVotes,
        SwitchStage,
    )
}

_client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def _too_deep(text: str | bytes, limit: int) -> bool:
    """Is any bracket nested deeper than ``limit``? Linear, and skipped for the common
    message that does not even hold ``limit`` brackets."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text.count("{") + text.count("[") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_client_message(text: str | bytes, *, max_bytes: int) -> _Client:
    """A validated client message, or ``Refused`` with a documented code:
    ``too_large``, ``bad_json``, ``bad_message`` or ``unknown_type``."""
    if len(text) > max_bytes:
        raise Refused("too_large", None, {"limit": max_bytes})
    if _too_deep(text, MAX_DEPTH):
        raise Refused("bad_message", "Message is nested too deeply.", {"limit": MAX_DEPTH})
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused("bad_json") from None
    if not isinstance(data, dict):
        raise Refused("bad_message", "Message must be a JSON object.")
    kind = data.get("type")
    if kind is not None and not isinstance(kind, str):
        raise Refused("bad_message", "The message type must be text.")
    if kind not in CLIENT_MODELS:
        raise Refused("unknown_type", None, {"type": repr(str(kind)[:40])})
    try:
        message: _Client = _client_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or str(kind)
        raise Refused("bad_message", None, {"field": where[:40], "detail": first["msg"]}) from None
    return message


# ---------------------------------------------------------------- server -> client


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoredVote(_Server):
    score: int
    seq: int


class Welcome(_Server):
    """Reply to hello: role, event state, and (attendees) my stored votes. ``then``: the
    messages that follow at once (the questions feed, my questions), each read as if it
    had come on its own. One send instead of three per connecting phone: a reconnect
    storm's server spends its time on these sends. The server puts already-encoded
    messages there (``followed_by``), so the field is not part of the model's dump."""

    type: Literal["welcome"] = "welcome"
    role: Role
    attendee_id: int | None
    event: dict[str, Any]
    my_votes: dict[str, StoredVote] | None
    then: list[dict[str, Any]] | None = Field(default=None, exclude=True)


class State(_Server):
    """Event state changed: pitch on stage, pitch states, voting open or closed."""

    type: Literal["state"] = "state"
    event: dict[str, Any]


class ScreenCurrent(_Server):
    pitch_id: int
    votes_in: int
    results_shown: bool
    summary: dict[str, Any] | None


class Screen(_Server):
    """Moderator/projector view: turnout, tally, leaderboard (at most ~10/s)."""

    type: Literal["screen"] = "screen"
    version: int
    connected: int  # distinct attendees with an open socket, across processes
    current: ScreenCurrent | None
    leaderboard: list[dict[str, Any]]
    votes: dict[str, int] | None  # moderator only
    # Conferences with several stages (issue 15): what every stage is doing (each
    # ``stage_id``, ``name``, ``current_pitch_id``, ``title``, ``state``, ``connected``) and
    # the leaderboard across all stages (each entry also names its ``stage_id``).
    stages: list[dict[str, Any]] | None = None
    conference: list[dict[str, Any]] | None = None


class VoteAck(_Server):
    """The stored vote of this attendee on a pitch (committed to the database): the
    newest seq, which may be newer than the one the socket sent."""

    type: Literal["vote_ack"] = "vote_ack"
    pitch_id: int
    score: int
    seq: int


class VoteReset(_Server):
    """The moderator deleted a pitch's votes: forget my rating of it and rate again."""

    type: Literal["vote_reset"] = "vote_reset"
    pitch_id: int


class CommandAck(_Server):
    """A moderator command took effect."""

    type: Literal["command_ack"] = "command_ack"
    command: str


class Error(_Server):
    """A message was refused: code and parameters, English text, the refused type, and
    the pitch of a refused vote."""

    type: Literal["error"] = "error"
    code: str
    params: dict[str, str | int] = {}  # the code's parameters (README "Error codes")
    message: str  # English, for logs and tools; browsers render ``code`` and ``params``
    ref: str | None = None
    pitch_id: int | None = None  # every refused vote
    question_id: int | None = None  # a refused question action (eventapp/questions)


class Pong(_Server):
    """Reply to ping."""

    type: Literal["pong"] = "pong"


class ContactRequest(_Server):
    """Networking: someone asks to exchange contacts (never contact fields)."""

    type: Literal["contact_request"] = "contact_request"
    link_id: int | None
    attendee_id: int
    name: str
    organization: str


class ContactAnswer(_Server):
    """Networking: my request was accepted or declined."""

    type: Literal["contact_answer"] = "contact_answer"
    attendee_id: int
    name: str
    accepted: bool


class ContactExchanged(_Server):
    """Networking: someone scanned my code and confirmed."""

    type: Literal["contact_exchanged"] = "contact_exchanged"
    attendee_id: int
    name: str
    organization: str


class PartnerInterest(_Server):
    """Networking: someone wants to get involved in my pitch."""

    type: Literal["partner_interest"] = "partner_interest"
    pitch_id: int
    attendee_id: int
    name: str
    organization: str
    role: str


ServerMessage = Annotated[
    Welcome
    | State
    | Screen
    | VoteAck
    | VoteReset
    | CommandAck
    | Error
    | Pong
    | ContactRequest
    | ContactAnswer
    | ContactExchanged
    | PartnerInterest,
    Field(discriminator="type"),
]
SERVER_MODELS: dict[str, type[_Server]] = {
    typ.model_fields["type"].default: typ
    for typ in (
        Welcome,
        State,
        Screen,
        VoteAck,
        VoteReset,
        CommandAck,
        Error,
        Pong,
        ContactRequest,
        ContactAnswer,
        ContactExchanged,
        PartnerInterest,
    )
}
_server_adapter: TypeAdapter[Any] = TypeAdapter(ServerMessage)


def encode(message: BaseModel) -> str:
    """Serialise once; the same text goes to every socket (and over the bus)."""
    return message.model_dump_json()


def followed_by(text: str, then: Sequence[str]) -> str:
    """A message's text (encoded without ``then``) carrying the encoded messages ``then``
    that follow it: one send instead of several (``Welcome``)."""
    if not then:
        return text
    assert text.endswith("}"), text[-20:]
    return f'{text[:-1]},"then":[{",".join(then)}]}}'


def server_message(type_: str, **fields: Any) -> str:
    """Build, validate and serialise a server message by its type name."""
    return encode(SERVER_MODELS[type_](**fields))


def decode_server(text: str) -> BaseModel:
    """A server message read back (from a caller that holds text, or a test)."""
    message: BaseModel = _server_adapter.validate_json(text)
    return message


# ---------------------------------------------------------------- bus envelope
# What app processes tell each other on an event's channel. ``state`` is the same JSON as
# the server message, so one serialisation serves both the bus and the sockets.


class _Bus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusVotes(_Bus):
    """Votes were applied to the tallies: screens need a fresh update. Sent at most once
    per screen tick and event; ``acks`` carries the votes stored since the last one, as
    (attendee_id, pitch_id, score, seq), so an attendee's tabs on other processes show
    the same rating."""

    type: Literal["votes"] = "votes"
    origin: str = ""  # the sending process (it has told its own sockets already)
    acks: list[tuple[int, int, int, int]] = []


class BusDirect(_Bus):
    """A server message for the sockets of one attendee, wherever they are."""

    type: Literal["direct"] = "direct"
    attendee_id: int
    # A server message as a JSON object (not JSON in a string): one of SERVER_MODELS or
    # another area's (questions' my_questions).
    message: dict[str, Any]


class BusVotesReset(_Bus):
    """A pitch's votes were deleted: every phone forgets its rating of that pitch."""

    type: Literal["votes_reset"] = "votes_reset"
    pitch_id: int


class BusQuestions(_Bus):
    """Audience questions of the event changed (eventapp/questions reloads its feed)."""

    type: Literal["questions"] = "questions"


class BusKeyRotated(_Bus):
    """A screen link was replaced: screens that joined with the old key close."""

    type: Literal["key_rotated"] = "key_rotated"
    role: Literal["moderator", "projector"]


BusEnvelope = Annotated[
    State | BusVotes | BusDirect | BusVotesReset | BusKeyRotated | BusQuestions,
    Field(discriminator="type"),
]
BUS_MODELS: tuple[type[BaseModel], ...] = (
    State,
    BusVotes,
    BusDirect,
    BusVotesReset,
    BusKeyRotated,
    BusQuestions,
)
_bus_adapter: TypeAdapter[Any] = TypeAdapter(BusEnvelope)


def decode_bus(text: str | bytes) -> BaseModel:
    """A bus envelope; ``ValidationError`` when it is not one."""
    envelope: BaseModel = _bus_adapter.validate_json(text)
    return envelope
