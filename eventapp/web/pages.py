"""Pages for everyone: the start page, the language switch, the join QR code (health:
web/health.py)."""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
import qrcode.image.svg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from eventapp.i18n import N_
from eventapp.voting import queries
from eventapp.voting.rules import CODE_ALPHABET
from eventapp.web.render import LANG_COOKIE, base_url, render


async def home(request: Request) -> Response:
    code = request.query_params.get("code", "")
    if code:
        code = "".join(ch for ch in code.upper() if ch in CODE_ALPHABET)[:12]
        event = await request.state.db.run_read(queries.event_by_code, code) if code else None
        if event is not None:
            return RedirectResponse(f"/e/{event.code}", status_code=303)
        return render(
            request,
            "home.html",
            {"error": N_("No event with this code."), "code": code},
            status_code=404,
        )
    return render(request, "home.html", {"error": None, "code": ""})


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    target = request.query_params.get("next", "/")
    # Only local paths: the switch must not become an open redirect.
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    if lang in request.state.settings.languages:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


@lru_cache(maxsize=256)
def qr_svg(data: str) -> bytes:
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
    )
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


async def join_qr(request: Request) -> Response:
    code = request.path_params["code"].upper()
    event = await request.state.db.run_read(queries.event_by_code, code)
    if event is None:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    svg = qr_svg(f"{base_url(request)}/e/{event.code}")
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=300"})


routes = [
    Route("/", home),
    Route("/lang/{lang}", switch_language),
    Route("/e/{code}/qr.svg", join_qr),
]
