"""The presenter's private answer: start a contact request to a named asker.

Transport only. The networking rules decide (both must be in the directory, no block,
request limits): consent is unchanged, a question does not open anyone's contact data.
An anonymous question never reveals its asker, not even to the presenter.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventapp.core.validation import InvalidInput
from eventapp.i18n import translator
from eventapp.live.hub import Hub
from eventapp.live.pump import ATTENDEE_COOKIE
from eventapp.networking import contacts
from eventapp.networking.profiles import Refused as NetworkRefused
from eventapp.questions import queries as store
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.web.render import language
from eventapp.web.security import csrf_ok


async def contact_asker(request: Request) -> Response:
    db = request.state.db
    settings: Settings = request.state.settings
    event = await db.run_read(queries.event_by_code, request.path_params["code"])
    if event is None or event.id is None:
        return JSONResponse({"error": "not_found", "message": "Page not found."}, status_code=404)
    _ = translator(language(request, event.language, event))

    def answer(code: str, text: str, status: int) -> Response:
        return JSONResponse({"error": code, "message": _(text)}, status_code=status)

    form = await request.form(max_files=0, max_fields=5)
    if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
        return answer("csrf", "The form expired. Please try again.", 403)
    token = request.cookies.get(ATTENDEE_COOKIE.format(code=event.code))
    me = await db.run_read(queries.attendee_by_token, event.id, token) if token else None
    if me is None or me.id is None:
        return answer("bad_token", "Please join the event first.", 403)
    found = await db.run_read(store.asker_of, event.id, int(request.path_params["question_id"]))
    if found is None:
        return answer("unknown_question", "No such question.", 404)
    asker_id, pitch_id, named = found
    if await db.run_read(store.presenter_of, pitch_id) != me.id:
        return answer("forbidden", "Only the presenter of this pitch can answer privately.", 403)
    if not named:
        return answer("anonymous", "This question was asked anonymously.", 403)
    hub: Hub = request.state.hub
    try:
        link = await contacts.request_contact(
            event.id, me.id, asker_id, db=db, notify=hub.notify_attendee
        )
    except NetworkRefused as exc:
        return answer(exc.code, exc.message, 409)
    except InvalidInput as exc:
        return JSONResponse({"error": "invalid", "message": f"{_(exc.field)}: {_(exc.message)}"})
    done = "Contact request sent." if link.state == "pending" else "You are connected."
    return JSONResponse({"ok": True, "state": str(link.state), "message": _(done)})


routes = [
    Route("/e/{code}/questions/{question_id:int}/contact", contact_asker, methods=["POST"]),
]
