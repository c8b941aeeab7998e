"""Organiser console, attendees part (issue 12): admission settings, the attendee list
with stuffing flags, removal with a preview (and undo), merge, the invite list with its
import, device approvals and badges. Transport only, like ``views``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventapp.admission import queries as admission
from eventapp.admission.rules import clean_count, clean_mode
from eventapp.core.models import Event
from eventapp.errors import Refused
from eventapp.i18n import N_, translator
from eventapp.organizing import attendees as electorate
from eventapp.organizing import badges, imports, invites
from eventapp.organizing import forms as views
from eventapp.organizing.views import ROOT, _form, _home, organizer_only
from eventapp.web.render import base_url, language

ACTOR = "organiser console"
MAX_IDS = 20_000


def _gettext(request: Request, event: Event) -> Callable[[str], str]:
    return translator(language(request, event.language, event))


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values[:MAX_IDS] if v.strip().isdigit() and len(v.strip()) < 12]


def _chosen(request: Request) -> tuple[list[int], list[str]]:
    form = request.state.form
    # Ticked boxes, or the confirmed preview's list in one field (a form holds at most
    # 1,000 fields; a removal by flag can name thousands of attendees).
    listed = str(form.get("ids", "")).split(",")
    ids = _ids([*(str(v) for v in form.getlist("attendee")), *listed])
    flags = [str(v) for v in form.getlist("flag") if str(v) in electorate.FLAGS]
    return ids, flags


async def _refused(request: Request, event: Event, refusal: Refused) -> Response:
    message = refusal.render(_gettext(request, event))
    return await views.console(request, event, status_code=400, errors=[message])


@organizer_only
async def save_admission(request: Request, event: Event) -> Response:
    assert event.id is not None
    form = _form(request)
    try:
        mode = clean_mode(form.get("mode", "open"))
        cap = clean_count(form.get("cap", ""), label=N_("Attendee cap"))
        expected = clean_count(form.get("expected", ""), label=N_("Expected attendees"))
    except Refused as exc:
        return await views.console(
            request, event, status_code=400, errors=[exc.render(_gettext(request, event))]
        )
    await request.state.db.run(
        admission.save_admission, event.id, mode=mode, cap=cap, expected=expected
    )
    return _home(event, "admission", "admission")


@organizer_only
async def attendees_json(request: Request, event: Event) -> Response:
    assert event.id is not None
    rows = await request.state.db.run_read(electorate.attendee_rows, event.id)
    return JSONResponse([r.as_json() for r in rows], headers={"Cache-Control": "no-store"})


async def _selected(request: Request, event: Event) -> list[int]:
    assert event.id is not None
    ids, flags = _chosen(request)
    if not flags:
        return ids
    rows = await request.state.db.run_read(electorate.attendee_rows, event.id)
    return electorate.select_ids(rows, ids=ids, flags=flags)


@organizer_only
async def preview_removal(request: Request, event: Event) -> Response:
    assert event.id is not None
    ids = await _selected(request, event)
    try:
        changes = await request.state.db.run_read(electorate.preview_removal, event.id, ids)
    except Refused as exc:
        return await _refused(request, event, exc)
    extra = {
        "removal_preview": changes,
        "removal_ids": ids,
        "removal_reason": _form(request).get("reason", "")[:200],
    }
    return await views.console(request, event, extra=extra)


@organizer_only
async def remove(request: Request, event: Event) -> Response:
    assert event.id is not None
    ids, _flags = _chosen(request)
    try:
        entry = await electorate.remove(
            event.id, ids, reason=_form(request).get("reason", ""), actor=ACTOR, **_live(request)
        )
    except Refused as exc:
        return await _refused(request, event, exc)
    return _home(event, f"removed-{entry.id}", "attendees")


def _live(request: Request) -> dict[str, Any]:
    """What a change of the electorate writes to and announces on."""
    hub = request.state.hub
    return {
        "db": request.state.db,
        "tallies": hub.tallies,
        "bus": hub.bus,
        "namespace": request.state.settings.namespace,
    }


@organizer_only
async def undo(request: Request, event: Event) -> Response:
    assert event.id is not None
    raw = str(request.path_params["audit_id"])
    try:
        audit_id = int(raw) if raw.isdigit() else -1
        await electorate.undo(event.id, audit_id, actor=ACTOR, **_live(request))
    except Refused as exc:
        return await _refused(request, event, exc)
    return _home(event, "undone", "attendees")


@organizer_only
async def merge(request: Request, event: Event) -> Response:
    assert event.id is not None
    form = _form(request)
    keep, other = _ids([form.get("keep", "")]), _ids([form.get("other", "")])
    try:
        if not keep or not other:
            raise Refused("merge_same", "Choose two different attendees to merge.")
        await electorate.merge(
            event.id,
            keep[0],
            other[0],
            reason=form.get("reason", ""),
            actor=ACTOR,
            **_live(request),
        )
    except Refused as exc:
        return await _refused(request, event, exc)
    return _home(event, "merged", "attendees")


@organizer_only
async def close(request: Request, event: Event) -> Response:
    assert event.id is not None
    if _form(request).get("confirm") != "yes":
        return await views.console(
            request,
            event,
            status_code=400,
            errors=[N_("Tick the box to confirm closing the event.")],
        )
    await request.state.db.run(admission.close_event, event.id)
    return _home(event, "closed", "attendees")


@organizer_only
async def import_invites(request: Request, event: Event) -> Response:
    """Step 1: check the file, show a preview. Step 2 (``payload``): store all rows."""
    assert event.id is not None
    form = request.state.form
    db = request.state.db
    existing = await run_in_threadpool(invites.existing_invites, event.id, db=db)
    try:
        if form.get("payload"):
            rows = json.loads(str(form["payload"]))
            if not isinstance(rows, list):
                raise ValueError("payload")
            checked = invites.check_payload([dict(r) for r in rows], existing)
            if checked.ok:
                await invites.store(event.id, checked, db=db)
                return _home(event, "invites", "invites")
        else:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise imports.ImportFileError("Choose a CSV or XLSX file first.")
            data = await upload.read(imports.MAX_BYTES + 1)
            checked = await run_in_threadpool(invites.check_file, data, upload.filename, existing)
    except imports.ImportFileError as exc:
        _ = _gettext(request, event)
        return await views.console(request, event, status_code=400, errors=[exc.render(_)])
    except (ValueError, TypeError, AttributeError):
        return await views.console(
            request,
            event,
            status_code=400,
            errors=["The preview data was damaged. Upload the file again."],
        )
    extra = {
        "invite_preview": checked,
        "invite_payload": json.dumps(checked.rows, ensure_ascii=False),
    }
    return await views.console(request, event, status_code=200 if checked.ok else 400, extra=extra)


@organizer_only
async def change_invite(request: Request, event: Event) -> Response:
    assert event.id is not None
    action = request.path_params["action"]
    raw = str(request.path_params["invite_id"])
    if action not in ("approve", "reissue") or not raw.isdigit():
        return await views.console(request, event, status_code=404, errors=["Page not found."])
    try:
        await request.state.db.run(admission.invite_change, event.id, int(raw), action)
    except LookupError:
        return await views.console(
            request, event, status_code=404, errors=[N_("There is no such invite in this event.")]
        )
    return _home(event, action, "invites")


def invite_link(request: Request, event: Event, token: str) -> str:
    return f"{base_url(request)}/e/{event.code}/i/{token}"


@organizer_only
async def invites_json(request: Request, event: Event) -> Response:
    assert event.id is not None
    rows = await request.state.db.run_read(admission.invites_of_event, event.id)
    body = [
        {
            "id": i.id,
            "name": i.name,
            "organization": i.organization,
            "email": i.email,
            "link": invite_link(request, event, i.token),
            "joined": i.attendee_id is not None,
        }
        for i in rows
    ]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@organizer_only
async def badges_pdf(request: Request, event: Event) -> Response:
    assert event.id is not None
    size = request.query_params.get("size", "a6")
    if size not in badges.SIZES:
        size = "a6"
    rows = await request.state.db.run_read(admission.invites_of_event, event.id)
    items = [
        badges.Badge(i.name, i.organization, invite_link(request, event, i.token)) for i in rows
    ]
    content = await run_in_threadpool(badges.badges_pdf, items, size=size, event=event.name)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            # The badges hold personal join links: a credential, never cached.
            "Content-Disposition": f'inline; filename="{event.code}-badges-{size}.pdf"',
            "Cache-Control": "no-store",
        },
    )


routes = [
    Route(ROOT + "/admission", save_admission, methods=["POST"]),
    Route(ROOT + "/attendees.json", attendees_json),
    Route(ROOT + "/attendees/preview", preview_removal, methods=["POST"]),
    Route(ROOT + "/attendees/remove", remove, methods=["POST"]),
    Route(ROOT + "/attendees/merge", merge, methods=["POST"]),
    Route(ROOT + "/audit/{audit_id}/undo", undo, methods=["POST"]),
    Route(ROOT + "/close", close, methods=["POST"]),
    Route(ROOT + "/invites/import", import_invites, methods=["POST"]),
    Route(ROOT + "/invites.json", invites_json),
    Route(ROOT + "/invites/{invite_id}/{action}", change_invite, methods=["POST"]),
    Route(ROOT + "/badges.pdf", badges_pdf),
]
