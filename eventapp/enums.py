"""States and roles: the leaf module every layer may import."""

from __future__ import annotations

from enum import StrEnum


class PitchState(StrEnum):
    PENDING = "pending"  # not yet voted on
    OPEN = "open"  # voting open: phones show the rating card
    CLOSED = "closed"  # voting closed, results not yet shown on the projector
    REVEALED = "revealed"  # results shown on the projector


# Named groups instead of tuples repeated across the code.
ACCEPTS_VOTES = frozenset({PitchState.OPEN})


class Role(StrEnum):
    ATTENDEE = "attendee"
    MODERATOR = "moderator"
    PROJECTOR = "projector"
    ORGANIZER = "organizer"


SCREEN_ROLES = frozenset({Role.MODERATOR, Role.PROJECTOR})
