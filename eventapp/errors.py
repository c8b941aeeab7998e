"""One refusal type for every way in: sockets, pages and the command line.

A rule that will not do something raises ``Refused(code, params)``. ``code`` is stable and
machine-readable (clients and tests branch on it); the English text for people comes from
``MESSAGES`` (or an explicit ``text`` where one code has several wordings) and is
translated with the person's translator only when it is shown, so placeholders such as
``%(min)d`` are filled after translation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

# The default English text of each code (an ``_()`` key; placeholders are named).
MESSAGES: dict[str, str] = {
    # The socket protocol (README "Live protocol").
    "bad_json": "Message is not valid JSON.",
    "too_large": "Message larger than %(limit)d bytes.",
    "unknown_type": "Unknown message type.",
    "bad_message": "Invalid message.",
    "not_joined": "Send hello first.",
    "already_joined": "This socket has already said hello.",
    "bad_token": "Unknown attendee; please join the event.",
    "forbidden": "This link is not valid.",
    "link_replaced": "This link was replaced. Ask the organiser for the new link.",
    "too_many_sockets": "This device is connected too many times; close a tab.",
    "unknown_pitch": "No such pitch in this event.",
    "voting_closed": "Voting on this pitch is not open.",
    "out_of_scale": "Score must be between %(min)d and %(max)d.",
    "rate_limited": "Too many messages; slow down.",
    "not_saved": "Vote not saved; retrying.",
    # The moderator's commands.
    "last_pitch": "This is the last pitch.",
    "not_open": "Voting is not open.",
    "not_voted": "Open voting on this pitch first.",
    "not_confirmed": "Resetting votes needs confirmation.",
}


class Refused(Exception):
    """Something a person asked for is not done; nothing was changed.

    ``params`` fill the text's named placeholders; ``text`` overrides the code's default
    English wording (still an ``_()`` key).
    """

    def __init__(
        self, code: str, params: Mapping[str, object] | None = None, *, text: str | None = None
    ) -> None:
        self.code = code
        self.params: dict[str, object] = dict(params or {})
        self.text = text if text is not None else MESSAGES.get(code, code)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The English text, placeholders filled."""
        return self.translated(str)

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The text in the person's language (``gettext`` from ``eventapp.i18n``)."""
        text = gettext(self.text)
        return text % self.params if self.params else text

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, {self.params!r})"
