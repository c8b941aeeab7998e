"""The moderator's laptop and the stage projector, both opened by secret links."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventapp.core.permissions import screen_stage
from eventapp.enums import Role
from eventapp.voting import queries
from eventapp.web.render import base_url, render, screen_language


def _stage_param(request: Request) -> int | None:
    raw = request.query_params.get("stage", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _screen(template: str, role: Role) -> Callable[..., object]:
    async def page(request: Request) -> Response:
        db = request.state.db
        event = await db.run_read(queries.event_by_code, request.path_params["code"])
        key = request.path_params["key"]
        stages = await db.run_read(queries.stages_of, event.id) if event and event.id else []
        stage = (
            screen_stage(event, stages, role, key, _stage_param(request))
            if event is not None
            else None
        )
        if event is None or stage is None:
            # The same answer for a wrong code and a wrong key: nothing to probe.
            return render(
                request, "error.html", {"message": "This link is not valid."}, status_code=404
            )
        # The projector prints the host to type in beside the QR code.
        context = {
            "key": key,
            "join_host": urlsplit(base_url(request)).netloc,
            "stage": stage,
            "stages": stages,
            # The projector's optional leaderboard across every stage of the conference.
            "conference_view": request.query_params.get("view") == "conference",
        }
        return render(request, template, context, event=event, lang=screen_language(request, event))

    return page


routes = [
    Route("/e/{code}/moderator/{key}", _screen("moderator/index.html", Role.MODERATOR)),
    Route("/e/{code}/projector/{key}", _screen("projector/index.html", Role.PROJECTOR)),
]
