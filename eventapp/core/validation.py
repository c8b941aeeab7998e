"""Text input rules shared by forms, sockets and the command line."""

from __future__ import annotations

import unicodedata


class InvalidInput(ValueError):
    """Bad input from a person: ``field`` names it, the message says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


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
        raise InvalidInput(field, f"is longer than {max_length} characters")
    return text


def is_noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF, ...):
    never text, illegal in XML (an XLSX holding one is malformed). Control characters and
    surrogates, XML's other illegal code points, are refused by category above."""
    cp = ord(ch)
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE
