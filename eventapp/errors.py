"""One refusal type for every way in: sockets, pages and the command line.

A rule that will not do something raises ``Refused(code)``, ``Refused(code, text)`` or
``Refused(code, text, params)``. ``code`` is stable and machine-readable (clients and
tests branch on it; the browser renders it with ``params`` in its reader's language,
``EA.errorText``); ``text`` is the English source string (an ``_()`` key, extracted like
``_()``: the second argument), by default the code's entry in ``MESSAGES``. Pages
translate it with the person's translator when they show it (``render``), so named
placeholders such as ``%(min)d`` are filled after translation; ``message`` is the English
text, filled in, for sockets' ``message`` field, logs and the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from eventapp.i18n import N_

# The default English text of each code (an ``_()`` key; placeholders are named).
MESSAGES: dict[str, str] = {
    # The socket protocol (README "Live protocol").
    "bad_json": N_("Message is not valid JSON."),
    "too_large": N_("Message larger than %(limit)d bytes."),
    "unknown_type": N_("Unknown message type: %(type)s."),
    "bad_message": N_("Invalid %(field)s: %(detail)s."),
    "not_joined": N_("Send hello first."),
    "already_joined": N_("This socket has already said hello."),
    "bad_token": N_("Unknown attendee; please join the event."),
    "forbidden": N_("This link is not valid."),
    "link_replaced": N_("This link was replaced. Ask the organiser for the new link."),
    "too_many_sockets": N_("This device is connected too many times; close a tab."),
    "unknown_pitch": N_("No such pitch in this event."),
    "no_pitches": N_("This event has no pitches."),
    "voting_closed": N_("Voting on this pitch is not open."),
    "out_of_scale": N_("Score must be between %(min)d and %(max)d."),
    "rate_limited": N_("Too many messages; slow down."),
    "not_saved": N_("Vote not saved; retrying."),
    # Stages (issue 15): a stage of another conference, a pitch of another stage.
    "unknown_stage": N_("No such stage in this event."),
    "wrong_stage": N_("This pitch is on another stage."),
    # The moderator's commands.
    "last_pitch": N_("This is the last pitch."),
    "not_open": N_("Voting is not open."),
    "not_voted": N_("Open voting on this pitch first."),
    "not_confirmed": N_("Resetting votes needs confirmation."),
}


class Refused(Exception):
    """Something a person asked for is not done; nothing was changed.

    ``params`` fill the text's named placeholders; ``text`` overrides the code's default
    English wording (still an ``_()`` key).
    """

    def __init__(
        self, code: str, text: str | None = None, params: Mapping[str, str | int] | None = None
    ) -> None:
        self.code = code
        self.params: dict[str, str | int] = dict(params or {})
        self.text = text if text is not None else MESSAGES.get(code, code)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The English text, placeholders filled."""
        return self.render(str)

    def render(self, gettext: Callable[[str], str]) -> str:
        """The text in the person's language (``eventapp.i18n.Translatable``: pages pass
        the refusal itself to ``_()``)."""
        text = gettext(self.text)
        return text % self.params if self.params else text

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, {self.params!r})"
