"""Who may do what: small named checks shared by pages, sockets and exports.

Screens are opened by secret links; keys are compared in constant time. A stronger
role's key also opens the weaker role's screens (the organiser can moderate). The
moderator and projector links belong to a stage (issue 15): a key opens its own stage's
screens and no other's; the organiser's key opens every stage's.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from eventapp.core.models import Event, Stage
from eventapp.enums import Role

# Which stage keys grant each screen role, strongest first.
_STAGE_KEYS_FOR: dict[Role, tuple[str, ...]] = {
    Role.MODERATOR: ("moderator_key",),
    Role.PROJECTOR: ("moderator_key", "projector_key"),
}


def _same(given: bytes, secret: str) -> bool:
    return hmac.compare_digest(given, str(secret).encode())


def screen_stage(
    event: Event,
    stages: Sequence[Stage],
    role: Role,
    key: str | None,
    stage_id: int | None = None,
) -> Stage | None:
    """The stage a screen key opens for ``role``, or None.

    A stage's moderator or projector key opens that stage (``stage_id``, if given, must be
    it); the organiser's key opens the stage named by ``stage_id``, else the first one.
    """
    if role not in _STAGE_KEYS_FOR or not key or not stages:
        return None
    given = key.encode()
    # Check every candidate (no early exit) so timing says nothing about which matched.
    found: Stage | None = None
    for stage in stages:
        matched = False
        for attr in _STAGE_KEYS_FOR[role]:
            matched |= _same(given, getattr(stage, attr))
        if matched and found is None:
            found = stage
    if found is not None:
        return found if stage_id is None or found.id == stage_id else None
    if _same(given, event.organizer_key):
        if stage_id is None:
            return stages[0]
        return next((s for s in stages if s.id == stage_id), None)
    return None


def has_role(event: Event, role: Role, key: str | None, stages: Sequence[Stage] = ()) -> bool:
    if role is Role.ORGANIZER:
        return bool(key) and _same((key or "").encode(), event.organizer_key)
    return screen_stage(event, stages, role, key) is not None


def can_organize(event: Event, key: str | None) -> bool:
    return has_role(event, Role.ORGANIZER, key)
