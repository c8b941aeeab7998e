"""The hall code: a short code only the projector shows, new every minute.

It is an HMAC of the minute under the event's admission secret, so every app process
derives the same code without storing or sharing anything. The current and the previous
minute's codes are accepted: a code read off the projector works for 60–120 s, and a code
passed on outside the hall stops working within two minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

# Same alphabet as event codes: no 0/O, 1/I/L, so it reads unambiguously from the back.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 5  # 31**5 ≈ 28.6 million codes; two are valid at a time
PERIOD = 60  # seconds per code
# How far back a code is recognised as "expired" rather than "wrong" (for the message).
RECOGNISED_MINUTES = 60


class HallCheck(StrEnum):
    OK = "ok"
    EXPIRED = "expired"
    WRONG = "wrong"


def hall_code(secret: str, minute: int) -> str:
    digest = hmac.new(secret.encode(), f"hall:{minute}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(LENGTH):
        number, rest = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[rest])
    return "".join(chars)


def current_code(secret: str, now: float) -> str:
    return hall_code(secret, int(now // PERIOD))


def normalise(given: str) -> str:
    return "".join(given.split()).upper()[:16]


def check_hall_code(secret: str, given: str, now: float) -> HallCheck:
    code = normalise(given).encode()
    minute = int(now // PERIOD)
    ok = False
    for m in (minute, minute - 1):
        ok |= hmac.compare_digest(code, hall_code(secret, m).encode())
    if ok:
        return HallCheck.OK
    if len(code) == LENGTH and any(
        hmac.compare_digest(code, hall_code(secret, m).encode())
        for m in range(minute - RECOGNISED_MINUTES, minute - 1)
    ):
        return HallCheck.EXPIRED
    return HallCheck.WRONG
