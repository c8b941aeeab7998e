"""Who may do what: small named checks shared by pages, sockets and exports.

Screens are opened by secret links; keys are compared in constant time. A stronger
role's key also opens the weaker role's screens (the organiser can moderate).
"""

from __future__ import annotations

import hmac

from eventapp.core.models import Event
from eventapp.enums import Role

# Which event keys grant each role, strongest first.
_KEYS_FOR: dict[Role, tuple[str, ...]] = {
    Role.ORGANIZER: ("organizer_key",),
    Role.MODERATOR: ("organizer_key", "moderator_key"),
    Role.PROJECTOR: ("organizer_key", "moderator_key", "projector_key"),
}


def has_role(event: Event, role: Role, key: str | None) -> bool:
    if role not in _KEYS_FOR or not key:
        return False
    given = key.encode()
    # Check every candidate (no early exit) so timing says nothing about which matched.
    matched = False
    for attr in _KEYS_FOR[role]:
        matched |= hmac.compare_digest(given, str(getattr(event, attr)).encode())
    return matched


def can_moderate(event: Event, key: str | None) -> bool:
    return has_role(event, Role.MODERATOR, key)


def can_project(event: Event, key: str | None) -> bool:
    return has_role(event, Role.PROJECTOR, key)


def can_organize(event: Event, key: str | None) -> bool:
    return has_role(event, Role.ORGANIZER, key)
