"""Text input rules shared by forms, sockets and the command line."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from eventapp.i18n import N_

# The field names InvalidInput reports, marked for extraction: pages show "field: problem"
# in the reader's language (the rules name the field in English).
FIELD_NAMES = (
    N_("name"),
    N_("organization"),
    N_("organisation"),
    N_("title"),
    N_("presenter"),
    N_("type"),
    N_("contact"),
    N_("email"),
    N_("date"),
    N_("languages"),
    N_("language"),
    N_("scale"),
    N_("labels"),
    N_("label"),
    N_("topics"),
    N_("organisation-type matrix"),
    N_("retention period"),
    N_("pitch title"),
    N_("presenting attendee"),
    N_("delete"),
    N_("link"),
    N_("phone"),
    N_("website"),
    N_("role"),
    N_("offers"),
    N_("seeks"),
    N_("interests"),
    N_("note"),
    N_("search"),
    N_("tag"),
    N_("organisation type"),
    N_("time zone"),
    # Stages and sessions (issue 15): import columns and console fields.
    N_("stage"),
    N_("session"),
    N_("stage name"),
    N_("session title"),
)


class InvalidInput(ValueError):
    """Bad input from a person: ``field`` names it, the message says what to fix.

    ``template`` is English with named placeholders (``%(limit)d``) filled from
    ``params``; pages translate both parts (``render``), ``message`` is the English text."""

    def __init__(self, field: str, message: str, **params: str | int) -> None:
        self.field = field
        self.template = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)

    def render(self, gettext: Callable[[str], str]) -> str:
        """``field: what to fix`` in the reader's language."""
        text = gettext(self.template)
        return f"{gettext(self.field)}: {text % self.params if self.params else text}"


def clean_text(value: object, *, field: str, max_length: int, required: bool = False) -> str:
    """Trim, fold whitespace, refuse control characters and over-long text.

    HTML is kept as typed: templates and the browser code show it as text, never markup.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be text")
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise InvalidInput(field, "contains invisible control characters")
    if any(is_noncharacter(ch) for ch in text):
        raise InvalidInput(field, "contains characters that are not allowed")
    if required and not text:
        raise InvalidInput(field, "is required")
    if len(text) > max_length:
        raise InvalidInput(field, "is longer than %(limit)d characters", limit=max_length)
    return text


def is_noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF, ...):
    never text, illegal in XML (an XLSX holding one is malformed). Control characters and
    surrogates, XML's other illegal code points, are refused by category above."""
    cp = ord(ch)
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE
