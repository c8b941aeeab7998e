"""Admission rules: who may join, checked in the same transaction that creates the
attendee, so a refused join creates nothing and the cap holds across processes."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field

from eventapp.admission.hallcode import HallCheck, check_hall_code
from eventapp.admission.models import Mode
from eventapp.errors import Refused

MAX_CAP = 100_000


# A refused join is an ``eventapp.errors.Refused``: a stable code (README "Trusting the
# result"), English text with %(name)s placeholders and their params, so the page can say
# it in the phone's language.
INVITE_ONLY = Refused(
    "invite_only",
    "This event admits invited guests only. Please use your personal link or the QR code "
    "on your badge.",
)


def hall_refusal(check: HallCheck) -> Refused | None:
    if check is HallCheck.OK:
        return None
    if check is HallCheck.EXPIRED:
        return Refused(
            "hall_code_expired",
            "This hall code has expired. Please scan the QR code on the screen again or "
            "type the code shown there now.",
        )
    return Refused(
        "hall_code_wrong",
        "This hall code is not right. Please type the code shown on the screen in the hall.",
    )


def check_mode(mode: str, *, secret: str, hall_code: str, now: float) -> None:
    """The form-join check: invite-only events refuse it; hall events need the code."""
    if mode == Mode.INVITE:
        raise INVITE_ONLY
    if mode == Mode.HALL:
        refusal = hall_refusal(check_hall_code(secret, hall_code, now))
        if refusal is not None:
            raise refusal


def check_cap(cap: int, admitted: int) -> None:
    if cap and admitted >= cap:
        raise Refused(
            "event_full",
            "This event is full: the organiser admits at most %(cap)d attendees.",
            {"cap": cap},
        )


def rate_refusal(wait: float) -> Refused:
    return Refused(
        "rate_limited",
        "Many people are joining from your network right now. Please try again in "
        "%(seconds)d seconds.",
        {"seconds": max(1, int(wait + 0.999))},
    )


def address_group(host: str | None) -> str:
    """The address's network, not the address: IPv4 /24, IPv6 /64 (data minimisation)."""
    if not host:
        return ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "Mac"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str | None) -> str:
    """ "iPhone Safari", "Android Chrome", or the first word of the agent (scripts show as
    e.g. "python-httpx"): enough for an organiser to tell phones from tools."""
    ua = (user_agent or "")[:400]
    system = next((name for key, name in _SYSTEMS if key in ua), "")
    browser = next((name for key, name in _BROWSERS if key in ua), "")
    if system or browser:
        return f"{system} {browser}".strip()
    word = re.split(r"[\s;(]", ua.strip(), maxsplit=1)[0] if ua.strip() else ""
    return word.split("/")[0][:40] or "unknown"


@dataclass(frozen=True)
class JoinOrigin:
    """Where a join came from, as far as we keep it."""

    address_group: str = ""
    device: str = ""
    now: float = field(default=0.0)


def new_invite_token() -> str:
    return secrets.token_urlsafe(18)


def clean_mode(value: str) -> Mode:
    try:
        return Mode(value.strip().lower())
    except ValueError:
        raise Refused("bad_mode", "Admission must be one of: open, hall, invite.") from None


def clean_count(value: str | int, *, label: str) -> int:
    text = str(value).strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > MAX_CAP:
        raise Refused(
            "bad_number",
            "%(label)s must be a whole number from 0 to %(max)d.",
            {"label": label, "max": MAX_CAP},
        )
    return int(text)
