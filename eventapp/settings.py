"""One Settings object, read from the environment once (see README, "Settings")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.config import Config

from eventapp.i18n import LANGUAGES, LOCALE_DIR


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from outside. Tests build one directly."""

    database_url: str = "sqlite:///eventapp.db"
    # None: in-process tallies and bus (the embedded default, one process only).
    redis_url: str | None = None
    # Prefix for every Redis key and channel, so several apps (or tests) share a server.
    namespace: str = "eventapp"
    # Public base URL used in QR codes and printed links; None: taken from each request.
    public_url: str | None = None
    # Extra origins allowed to open sockets and post forms (the own host is always allowed).
    allowed_origins: tuple[str, ...] = ()
    debug: bool = False
    # Live protocol limits.
    max_message_bytes: int = 4096
    messages_per_second: float = 10.0
    message_burst: int = 30
    strikes_before_close: int = 10
    # Rate-limited messages a socket may send per minute before they count as strikes: a
    # phone's quick series of changes is slowed down, never closed.
    rate_limited_free: int = 60
    # Seconds a new socket has to say hello before it is closed.
    hello_timeout: float = 5.0
    # Open sockets per attendee (tabs, reconnects) in one app process.
    sockets_per_attendee: int = 5
    send_queue_limit: int = 256
    screen_updates_per_second: float = 10.0
    vote_batch_max: int = 1000
    # Bayesian average: how many "virtual" votes at the event mean each pitch starts with.
    prior_weight: float = 5.0
    cookie_secure: bool = False
    # Upgrade the schema at start (under a lock); False: refuse to start until `migrate` ran.
    auto_migrate: bool = True
    # Bearer token for /metrics; None: /metrics answers 404.
    metrics_token: str | None = None
    # Addresses (IPs or networks) whose X-Forwarded-For/-Proto are believed; none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Host names links may be built from when PUBLIC_URL is unset; others get a safe default.
    allowed_hosts: tuple[str, ...] = ()
    # UI languages the server offers: English plus one .po catalogue per other language
    # (eventapp/locale/<code>/LC_MESSAGES/messages.po). Events pick among these.
    languages: tuple[str, ...] = LANGUAGES
    # Where the catalogues are (the package's own; tests point it at a test catalogue).
    locale_dir: Path = LOCALE_DIR
    # Joins per (event, address group): a token bucket of join_burst, refilled at join_rate
    # per second. The defaults let 1,000 people behind one NAT address join within two
    # minutes and one address create at most 610 attendees a minute (README, "Trusting").
    join_rate: float = 8.5
    join_burst: int = 100
    # The accessibility statement (/accessibility) the operator completes: feedback contact,
    # the date of the statement and known limits beyond those the app lists itself.
    accessibility_contact: str = ""
    accessibility_date: str = ""
    accessibility_limits: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        config = Config(environ=environ if environ is not None else os.environ)
        origins = config("ALLOWED_ORIGINS", default="")
        return cls(
            database_url=_normalise_db_url(config("DATABASE_URL", default="sqlite:///eventapp.db")),
            redis_url=config("REDIS_URL", default=None) or None,
            namespace=config("EVENTAPP_NAMESPACE", default="eventapp"),
            public_url=(config("PUBLIC_URL", default="") or None),
            allowed_origins=_split(origins),
            debug=config("DEBUG", cast=bool, default=False),
            cookie_secure=config("COOKIE_SECURE", cast=bool, default=False),
            auto_migrate=config("MIGRATE_ON_START", cast=bool, default=True),
            metrics_token=config("METRICS_TOKEN", default="") or None,
            trusted_proxies=_split(config("TRUSTED_PROXIES", default="")),
            allowed_hosts=_split(config("ALLOWED_HOSTS", default="")),
            languages=_languages(config("LANGUAGES", default=",".join(LANGUAGES))),
            join_rate=config("JOIN_RATE", cast=float, default=8.5),
            join_burst=config("JOIN_BURST", cast=int, default=100),
            accessibility_contact=config("ACCESSIBILITY_CONTACT", default=""),
            accessibility_date=config("ACCESSIBILITY_DATE", default=""),
            accessibility_limits=config("ACCESSIBILITY_LIMITS", default=""),
        )


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _languages(raw: str) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(_split(raw)))
    return codes or LANGUAGES


def _normalise_db_url(url: str) -> str:
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants an explicit driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
