"""An event's settings as typed input: what the console form and the command line both
hand to ``rules.update_settings``.

Each way in parses its own text into ``EventSettings`` (the form in ``forms.settings_input``,
argv in ``cli``); a value that is not even a number is refused there with the same
``InvalidInput`` the rule would give. ``rules.clean_settings`` then checks every value
(lengths, ranges, known languages, the matrix) once, for both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventapp.core.models import Event
from eventapp.core.validation import InvalidInput
from eventapp.questions.rules import question_settings_form


@dataclass(frozen=True)
class EventSettings:
    name: str
    languages: tuple[str, ...]  # language codes, in the order offered
    language: str  # the event's default, one of ``languages``
    scale_min: int
    scale_max: int
    retention_days: int
    date: str = ""  # 2026-05-14, or empty
    labels: tuple[str, ...] = ()  # one per score, or none
    live_results: bool = False
    topics: tuple[str, ...] = ()
    org_type_matrix: str = ""  # "type: other type, other type" per line (``parse_matrix``)
    networking: bool = False
    timezone: str = ""  # empty: the default zone
    # The audience questions' part, as that area's form fields (questions.rules owns them).
    questions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_event(cls, event: Event) -> EventSettings:
        """The event's current settings (what a partial change starts from)."""
        return cls(
            name=event.name,
            date=event.date,
            languages=tuple(x for x in event.languages.split(",") if x),
            language=event.language,
            scale_min=event.scale_min,
            scale_max=event.scale_max,
            labels=tuple(json.loads(event.scale_labels or "[]")),
            live_results=event.live_results,
            topics=tuple(json.loads(event.topics or "[]")),
            org_type_matrix=format_matrix(event.org_type_matrix),
            networking=event.networking_enabled,
            retention_days=event.retention_days,
            timezone=event.timezone,
            questions=question_settings_form(event),
        )


def format_matrix(raw: str) -> str:
    """The stored matrix (JSON) as the lines an organiser types."""
    data = json.loads(raw or "{}")
    return "\n".join(f"{k}: {', '.join(v)}" for k, v in data.items())


def parse_languages(text: str) -> tuple[str, ...]:
    """ "de, en" -> ("de", "en")."""
    return tuple(x for x in text.replace(" ", "").split(",") if x)


def parse_scale(low: str, high: str) -> tuple[int, int]:
    try:
        return int(low), int(high)
    except ValueError:
        raise InvalidInput("scale", "must be two whole numbers 0 ≤ min < max ≤ 10") from None


def parse_days(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput("retention period", "must be a whole number of days") from None
