"""Rendering pages: language, translations and the cross-site token in every context."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from eventapp.core.models import Event
from eventapp.i18n import LANGUAGES, js_catalog, negotiate, translator
from eventapp.settings import Settings
from eventapp.web.security import CSRF_COOKIE, csrf_token

LANG_COOKIE = "ea_lang"


def offered_languages(event: Event | None) -> tuple[str, ...]:
    """The UI languages an event offers (all we have when there is no event)."""
    if event is None:
        return LANGUAGES
    offered = tuple(x for x in (event.languages or "").split(",") if x.strip() in LANGUAGES)
    return tuple(x.strip() for x in offered) or (event.language,)


def language(request: HTTPConnection, default: str = "de", event: Event | None = None) -> str:
    offered = offered_languages(event)
    lang = negotiate(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), default
    )
    return lang if lang in offered else (default if default in offered else offered[0])


def base_url(request: Request) -> str:
    settings: Settings = request.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def event_links(event: Event, base: str) -> dict[str, str]:
    """The four links of an event. Screens get secret keys; attendees only the code."""
    root = f"{base}/e/{event.code}"
    return {
        "attendee": root,
        "moderator": f"{root}/moderator/{event.moderator_key}",
        "projector": f"{root}/projector/{event.projector_key}",
        "organizer": f"{root}/organizer/{event.organizer_key}",
    }


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    event: Event | None = None,
) -> Response:
    templates: Jinja2Templates = request.state.templates
    lang = language(request, event.language if event else "de", event)
    token, new_cookie = csrf_token(request)
    ctx: dict[str, Any] = {
        "lang": lang,
        "_": translator(lang),
        "js_strings": json.dumps(js_catalog(lang), ensure_ascii=False),
        "csrf_token": token,
        "event": event,
        "path": request.url.path,
        "languages": offered_languages(event),
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
