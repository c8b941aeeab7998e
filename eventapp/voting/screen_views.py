"""The moderator's laptop and the stage projector, both opened by secret links."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventapp.core.models import Event
from eventapp.core.permissions import can_moderate, can_project
from eventapp.voting import queries
from eventapp.web.render import base_url, render, screen_language


def _screen(template: str, allowed: Callable[[Event, str | None], bool]) -> Callable[..., object]:
    async def page(request: Request) -> Response:
        event = await request.state.db.run_read(queries.event_by_code, request.path_params["code"])
        key = request.path_params["key"]
        if event is None or not allowed(event, key):
            # The same answer for a wrong code and a wrong key: nothing to probe.
            return render(
                request, "error.html", {"message": "This link is not valid."}, status_code=404
            )
        # The projector prints the host to type in beside the QR code.
        context = {"key": key, "join_host": urlsplit(base_url(request)).netloc}
        return render(request, template, context, event=event, lang=screen_language(request, event))

    return page


routes = [
    Route("/e/{code}/moderator/{key}", _screen("moderator/index.html", can_moderate)),
    Route("/e/{code}/projector/{key}", _screen("projector/index.html", can_project)),
]
