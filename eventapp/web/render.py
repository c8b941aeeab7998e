"""Rendering pages: language, translations and the cross-site token in every context."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from eventapp.core.models import Event, Stage
from eventapp.i18n import (
    DEFAULT_TIMEZONE,
    LANGUAGES,
    Formats,
    Translatable,
    js_catalog_json,
    negotiate,
)
from eventapp.settings import Settings
from eventapp.web.security import CSRF_COOKIE, csrf_token

LANG_COOKIE = "ea_lang"


def server_languages(request: Request) -> tuple[str, ...]:
    settings: Settings = request.state.settings
    return settings.languages


def offered_languages(event: Event | None, server: tuple[str, ...] = LANGUAGES) -> tuple[str, ...]:
    """The UI languages an event offers (all the server has when there is no event)."""
    if event is None:
        return server
    offered = tuple(x.strip() for x in (event.languages or "").split(",") if x.strip() in server)
    return offered or ((event.language,) if event.language in server else server[:1])


def language(request: Request, default: str = "de", event: Event | None = None) -> str:
    """The person's language: the switch's cookie, else the browser's, else the event's."""
    offered = offered_languages(event, server_languages(request))
    lang = negotiate(
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        default,
        offered,
    )
    return lang if lang in offered else (default if default in offered else offered[0])


def screen_language(request: Request, event: Event) -> str:
    """Projector and moderator: the event's language unless the link says ``?lang=``.

    A shared screen must not follow the laptop's browser; an unknown ``lang`` falls back
    to the event's default."""
    offered = offered_languages(event, server_languages(request))
    wanted = request.query_params.get("lang", "")
    if wanted in offered:
        return wanted
    return event.language if event.language in offered else offered[0]


def formats(request: Request, event: Event | None = None, lang: str | None = None) -> Formats:
    """Text, number and time formats for this request's reader."""
    settings: Settings = request.state.settings
    if lang is None:
        lang = language(request, event.language if event else "de", event)
    timezone = event.timezone if event else DEFAULT_TIMEZONE
    return Formats(lang, timezone=timezone, locale_dir=settings.locale_dir)


def base_url(request: Request) -> str:
    """Where printed links and QR codes point: PUBLIC_URL; else the Host header, but only
    a host listed in ALLOWED_HOSTS (anyone can send any Host, and a link to the attacker's
    host on the projector would collect keys); else the address this request reached."""
    settings: Settings = request.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = request.headers.get("host", "")
    if host and (host in settings.allowed_hosts or host.split(":")[0] in settings.allowed_hosts):
        return f"{request.url.scheme}://{host}"
    server = request.scope.get("server") or ("localhost", None)
    name, port = server[0], server[1]
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    default = {"http": 80, "https": 443}.get(request.url.scheme)
    return f"{request.url.scheme}://{name}" + (f":{port}" if port and port != default else "")


def event_links(event: Event, base: str, stage: Stage) -> dict[str, str]:
    """The four links of an event (its moderator and projector links: of ``stage``).
    Screens get secret keys; attendees only the code."""
    root = f"{base}/e/{event.code}"
    return {
        "attendee": root,
        "moderator": f"{root}/moderator/{stage.moderator_key}",
        "projector": f"{root}/projector/{stage.projector_key}",
        "organizer": f"{root}/organizer/{event.organizer_key}",
    }


def stage_links(event: Event, base: str, stage: Stage) -> dict[str, str]:
    """A stage's links: its moderator and projector screens, and the phone link that
    puts a phone on this stage (what the stage's projector QR code encodes)."""
    root = f"{base}/e/{event.code}"
    return {
        "attendee": f"{root}?stage={stage.id}",
        "moderator": f"{root}/moderator/{stage.moderator_key}",
        "projector": f"{root}/projector/{stage.projector_key}",
    }


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    event: Event | None = None,
    lang: str | None = None,
) -> Response:
    """Render a page in the reader's language (``lang`` forces one: screens)."""
    templates: Jinja2Templates = request.state.templates
    fmt = formats(request, event, lang)
    token, new_cookie = csrf_token(request)
    ctx: dict[str, Any] = {
        "lang": fmt.lang,
        "i18n": fmt,
        "js_strings": js_catalog_json(fmt.lang, fmt.locale_dir),
        "csrf_token": token,
        "event": event,
        "path": request.url.path,
        "languages": offered_languages(event, server_languages(request)),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if new_cookie:
        settings: Settings = request.state.settings
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=settings.cookie_secure
        )
    return response


@pass_context
def _gettext(ctx: Context, text: str | Translatable, **params: Any) -> str:
    # Errors with parameters (InvalidInput, Text, import errors) render themselves.
    fmt: Formats = ctx["i18n"]
    return fmt.gettext(text, **params)


@pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int, **params: Any) -> str:
    # Jinja formats {% pluralize %} blocks itself; direct calls pass num=... explicitly.
    out = ctx["i18n"].catalogue.ngettext(singular, plural, n)
    return str(out % params if params else out)


@pass_context
def _pgettext(ctx: Context, context: str, text: str, **params: Any) -> str:
    fmt: Formats = ctx["i18n"]
    return fmt.pgettext(context, text, **params)


@pass_context
def _npgettext(
    ctx: Context, context: str, singular: str, plural: str, n: int, **params: Any
) -> str:
    out = ctx["i18n"].catalogue.npgettext(context, singular, plural, n)
    return str(out % params if params else out)


def template_environment(directory: str) -> Environment:
    """Jinja2 with the i18n extension; the translations are the page's ``i18n`` object.

    Old-style gettext on purpose: ``_(text)`` returns plain text that Jinja escapes (pages
    pass messages holding typed values through it), while ``{% trans %}`` blocks are the
    translator's markup with the variables escaped."""
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        pgettext=_pgettext,
        npgettext=_npgettext,
        newstyle=False,
    )
    env.filters["number"] = _number
    env.filters["integer"] = _integer
    env.filters["datetime"] = _datetime
    env.filters["eventdate"] = _date
    return env


@pass_context
def _number(ctx: Context, value: float | None, digits: int = 2) -> str:
    fmt: Formats = ctx["i18n"]
    return fmt.number(value, digits)


@pass_context
def _integer(ctx: Context, value: int) -> str:
    fmt: Formats = ctx["i18n"]
    return fmt.integer(value)


@pass_context
def _datetime(ctx: Context, value: datetime, format: str = "short") -> str:
    fmt: Formats = ctx["i18n"]
    return fmt.datetime(value, format)


@pass_context
def _date(ctx: Context, value: str, format: str = "medium") -> str:
    fmt: Formats = ctx["i18n"]
    return fmt.date(value, format)
