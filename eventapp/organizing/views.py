"""The organiser's console, opened by the secret organiser link. Transport only: every
route checks ``can_organize``, reads the form and calls one domain function."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from eventapp.core import privacy
from eventapp.core import queries as shared
from eventapp.core.models import Event
from eventapp.core.permissions import can_organize
from eventapp.core.validation import InvalidInput
from eventapp.errors import Refused
from eventapp.exports import base as exports
from eventapp.exports import registry
from eventapp.exports.voting import results_of
from eventapp.i18n import N_
from eventapp.networking.models import ORG_TYPE_LABELS
from eventapp.organizing import forms as views
from eventapp.organizing import imports, report, stages
from eventapp.organizing import rules as organizing
from eventapp.settings import Settings
from eventapp.voting import queries
from eventapp.web.limits import form_limits
from eventapp.web.render import formats, render
from eventapp.web.security import csrf_ok

Handler = Callable[[Request, Event], Awaitable[Response]]
MAX_UPLOAD = imports.MAX_BYTES + 64 * 1024  # the file plus the form around it


def organizer_only(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Load the event; answer 404 alike for a wrong code or key (nothing to probe);
    check the cross-site token on every POST."""

    async def endpoint(request: Request) -> Response:
        event = await request.state.db.run_read(queries.event_by_code, request.path_params["code"])
        if event is None or not can_organize(event, request.path_params["key"]):
            return render(
                request, "error.html", {"message": "This link is not valid."}, status_code=404
            )
        if request.method == "POST":
            settings: Settings = request.state.settings
            length = int(request.headers.get("content-length") or 0)
            if length > MAX_UPLOAD:
                too_big = imports.ImportFileError(
                    "The file is larger than %(mb)s MB.", mb=imports.MAX_BYTES // 1_000_000
                )
                return await views.console(request, event, status_code=413, errors=[too_big])
            form = await request.form(**form_limits(request.url.path))
            request.state.form = form
            try:
                if not csrf_ok(request, str(form.get("csrf", "")), settings.allowed_origins):
                    return await views.console(
                        request,
                        event,
                        status_code=403,
                        errors=[N_("The form expired. Please try again.")],
                    )
                return await handler(request, event)
            finally:
                await form.close()  # uploaded files are spooled to temporary files
        return await handler(request, event)

    return endpoint


def _form(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.state.form.items() if isinstance(v, str)}


def _home(event: Event, done: str = "", anchor: str = "") -> RedirectResponse:
    url = f"/e/{event.code}/organizer/{event.organizer_key}"
    return RedirectResponse(f"{url}?done={done}#{anchor}" if done else url, status_code=303)


def _invalid(request: Request, event: Event, exc: InvalidInput) -> InvalidInput:
    # The page renders it in the reader's language.
    return exc


@organizer_only
async def console(request: Request, event: Event) -> Response:
    return await views.console(request, event)


@organizer_only
async def save_settings(request: Request, event: Event) -> Response:
    try:
        await organizing.update_settings(
            event,
            views.settings_input(_form(request)),
            db=request.state.db,
            bus=request.state.hub.bus,
            namespace=request.state.settings.namespace,
            languages=request.state.settings.languages,
        )
    except InvalidInput as exc:
        return await views.console(
            request,
            event,
            status_code=400,
            errors=[_invalid(request, event, exc)],
            form=_form(request),
        )
    return _home(event, "settings", "settings")


async def _attendee_ids(request: Request, event: Event) -> list[int]:
    rows = await request.state.db.run_read(shared.attendees_of_event, event.id)
    return [a.id for a in rows if a.anonymised_at is None]


@organizer_only
async def add_pitch(request: Request, event: Event) -> Response:
    assert event.id is not None
    try:
        form = _form(request)
        pitch = organizing.clean_pitch(form, await _attendee_ids(request, event))
        if form.get("place"):
            stage_id, session_id = stages.parse_place(form)
            await stages.add_pitch(event.id, pitch, stage_id, session_id, **_live(request))
        else:
            await organizing.add_pitch(event.id, pitch, **_live(request))
    except (InvalidInput, Refused) as exc:
        return await views.console(request, event, status_code=400, errors=[exc])
    return _home(event, "pitch", "pitches")


def _pitch_id(request: Request) -> int:
    raw = request.path_params["pitch_id"]
    return int(raw) if str(raw).isdigit() else -1


@organizer_only
async def edit_pitch(request: Request, event: Event) -> Response:
    assert event.id is not None
    form = _form(request)
    try:
        action = form.get("action", "save")
        if action in ("up", "down"):
            await organizing.move_pitch(
                event.id,
                _pitch_id(request),
                -1 if action == "up" else 1,
                db=request.state.db,
                bus=request.state.hub.bus,
                namespace=request.state.settings.namespace,
            )
        elif action == "place":
            stage_id, session_id = stages.parse_place(form)
            await stages.place_pitch(
                event.id, _pitch_id(request), stage_id, session_id, **_live(request)
            )
        elif action == "delete":
            await organizing.delete_pitch(
                event.id,
                _pitch_id(request),
                confirm=form.get("confirm") == "yes",
                db=request.state.db,
                bus=request.state.hub.bus,
                namespace=request.state.settings.namespace,
            )
        else:
            pitch = organizing.clean_pitch(form, await _attendee_ids(request, event))
            await organizing.edit_pitch(
                event.id,
                _pitch_id(request),
                pitch,
                db=request.state.db,
                bus=request.state.hub.bus,
                namespace=request.state.settings.namespace,
            )
    except (InvalidInput, Refused) as exc:
        return await views.console(request, event, status_code=400, errors=[exc])
    except LookupError:
        return await views.console(
            request, event, status_code=404, errors=[N_("This pitch no longer exists.")]
        )
    return _home(event, "pitch", "pitches")


def _live(request: Request) -> dict[str, Any]:
    """Where a stage rule writes and announces: the database, bus and namespace."""
    return {
        "db": request.state.db,
        "bus": request.state.hub.bus,
        "namespace": request.state.settings.namespace,
    }


def _path_id(request: Request, name: str) -> int:
    raw = str(request.path_params[name])
    return int(raw) if raw.isdigit() else -1


@organizer_only
async def add_stage(request: Request, event: Event) -> Response:
    assert event.id is not None
    try:
        await stages.add_stage(event.id, _form(request).get("name", ""), **_live(request))
    except Refused as exc:
        return await views.console(request, event, status_code=400, errors=[exc])
    return _home(event, "stage", "stages")


@organizer_only
async def edit_stage(request: Request, event: Event) -> Response:
    """Rename, move up/down or delete a stage (delete: confirm when it has votes)."""
    assert event.id is not None
    form, stage_id = _form(request), _path_id(request, "stage_id")
    action = form.get("action", "rename")
    try:
        if action in ("up", "down"):
            delta = -1 if action == "up" else 1
            await stages.move_stage(event.id, stage_id, delta, **_live(request))
        elif action == "delete":
            await stages.delete_stage(
                event.id, stage_id, confirm=form.get("confirm") == "yes", **_live(request)
            )
        else:
            await stages.rename_stage(event.id, stage_id, form.get("name", ""), **_live(request))
    except Refused as exc:
        status = 404 if exc.code == "unknown_stage" else 400
        return await views.console(request, event, status_code=status, errors=[exc])
    return _home(event, "stage", "stages")


@organizer_only
async def add_session(request: Request, event: Event) -> Response:
    assert event.id is not None
    form = _form(request)
    try:
        title, starts = stages.clean_session(
            form.get("title", ""), form.get("starts_at", ""), event.timezone
        )
        await stages.add_session(
            event.id, _path_id(request, "stage_id"), title, starts, **_live(request)
        )
    except Refused as exc:
        status = 404 if exc.code == "unknown_stage" else 400
        return await views.console(request, event, status_code=status, errors=[exc])
    return _home(event, "session", "stages")


@organizer_only
async def edit_session(request: Request, event: Event) -> Response:
    assert event.id is not None
    form, session_id = _form(request), _path_id(request, "session_id")
    try:
        if form.get("action") == "delete":
            await stages.delete_session(event.id, session_id, **_live(request))
        else:
            title, starts = stages.clean_session(
                form.get("title", ""), form.get("starts_at", ""), event.timezone
            )
            await stages.update_session(event.id, session_id, title, starts, **_live(request))
    except Refused as exc:
        status = 404 if exc.code == "unknown_session" else 400
        return await views.console(request, event, status_code=status, errors=[exc])
    return _home(event, "session", "stages")


@organizer_only
async def import_file(request: Request, event: Event) -> Response:
    """Step 1: read and check the file, show a preview. Step 2 (``payload``): store it."""
    assert event.id is not None
    kind = request.path_params["kind"]
    if kind not in imports.KINDS:
        return await views.console(request, event, status_code=404, errors=[N_("Page not found.")])
    form = request.state.form
    db = request.state.db
    existing = await run_in_threadpool(imports.existing_values, kind, event.id, db=db)
    stage_names = await run_in_threadpool(imports.stage_names, kind, event.id, db=db)
    try:
        if form.get("payload"):
            checked = await run_in_threadpool(
                lambda: imports.check_confirmed(
                    kind,
                    str(form["payload"]),
                    secret=event.export_salt,
                    existing=existing,
                    stages=stage_names,
                )
            )
            if checked.ok:
                await imports.apply_import(
                    event.id,
                    checked,
                    db=db,
                    bus=request.state.hub.bus,
                    namespace=request.state.settings.namespace,
                )
                return _home(event, f"import-{kind}", "import")
        else:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise imports.ImportFileError("Choose a CSV or XLSX file first.")
            data = await upload.read(imports.MAX_BYTES + 1)
            checked = await run_in_threadpool(
                imports.check_file, kind, data, upload.filename, existing, stage_names
            )
    except imports.ImportFileError as exc:
        return await views.console(request, event, status_code=400, errors=[exc])
    except (ValueError, TypeError, AttributeError):
        return await views.console(
            request,
            event,
            status_code=400,
            errors=[N_("The preview data was damaged. Upload the file again.")],
        )
    return await views.console(
        request, event, preview=checked, status_code=200 if checked.ok else 400
    )


@organizer_only
async def rotate(request: Request, event: Event) -> Response:
    try:
        raw = _form(request).get("stage", "")
        stage_id = int(raw) if raw.isdigit() and len(raw) < 19 else None
        await organizing.rotate_key(
            event, request.path_params["role"], stage_id=stage_id, **_live(request)
        )
    except LookupError:
        return await views.console(
            request,
            event,
            status_code=404,
            errors=[Refused("unknown_stage", "No such stage in this event.")],
        )
    except InvalidInput as exc:
        return await views.console(
            request, event, status_code=400, errors=[_invalid(request, event, exc)]
        )
    return _home(event, "rotated", "links")


@organizer_only
async def purge(request: Request, event: Event) -> Response:
    if _form(request).get("confirm_code", "").strip().upper() != event.code:
        return await views.console(
            request,
            event,
            status_code=400,
            errors=[N_("Type the event code to confirm deleting the event.")],
        )
    await run_in_threadpool(privacy.purge_event, event, db=request.state.db)
    return render(request, "organizer/purged.html", {"code": event.code})


@organizer_only
async def dashboard(request: Request, event: Event) -> Response:
    return JSONResponse(await views.dashboard(request, event))


def _context(request: Request, event: Event) -> exports.ExportContext:
    settings: Settings = request.state.settings
    return exports.ExportContext(
        request.state.db, event, settings.prior_weight, fmt=formats(request, event)
    )


@organizer_only
async def download(request: Request, event: Event) -> Response:
    slug, fmt = request.path_params["slug"], request.path_params["fmt"]
    if slug not in registry.BY_SLUG or fmt not in exports.FORMATS:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    file = await run_in_threadpool(registry.export, slug, fmt, _context(request, event))
    return Response(
        file.content,
        media_type=file.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Cache-Control": "no-store",
        },
    )


async def _report(request: Request, event: Event) -> report.Report:
    from eventapp.exports.networking import network_of

    ctx = _context(request, event)
    return await run_in_threadpool(lambda: report.build_report(ctx, network_of(ctx)))


@organizer_only
async def report_page(request: Request, event: Event) -> Response:
    return render(
        request,
        "organizer/report.html",
        {
            "report": await _report(request, event),
            "key": event.organizer_key,
            "org_labels": {t.value: label for t, label in ORG_TYPE_LABELS.items()},
            # Bound to the reader's gettext here: Jinja's `_` needs a template context.
            "provenance_line": functools.partial(
                report.provenance_line, gettext=formats(request, event).gettext
            ),
            "session_time": functools.partial(
                report.session_time, fmt=formats(request, event), event_date=event.date
            ),
        },
        event=event,
    )


@organizer_only
async def report_pdf(request: Request, event: Event) -> Response:
    data = await _report(request, event)
    content = await run_in_threadpool(report.pdf, data, formats(request, event))
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{event.code}-report.pdf"',
            "Cache-Control": "no-store",
        },
    )


@organizer_only
async def chart(request: Request, event: Event) -> Response:
    """One chart of the report; each reads only what it draws (a report page asks for
    one per pitch)."""
    from eventapp.exports.networking import network_of

    ctx = _context(request, event)
    name = request.path_params["name"]
    fmt = formats(request, event)

    def draw() -> Any:
        if name == "turnout":
            votes = ctx.db.read(queries.raw_votes, ctx.event_id)
            buckets = report.turnout_buckets([v.updated_at for v in votes])
            return report.turnout_chart(buckets, fmt=fmt)
        if name == "network":
            return report.network_chart(network_of(ctx), fmt=fmt)
        state, results = results_of(ctx)
        found = [r for r in results if f"pitch-{r.pitch_id}" == name]
        return report.distribution_chart(found[0], state.scale_labels) if found else None

    drawing = await run_in_threadpool(draw)
    if drawing is None:
        return render(request, "error.html", {"message": "Page not found."}, status_code=404)
    # The SVG writer uses style attributes; this image runs no script, so allow them here.
    return Response(
        report.svg(drawing),
        media_type="image/svg+xml",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-store",
        },
    )


ROOT = "/e/{code}/organizer/{key}"
routes = [
    Route(ROOT, console),
    Route(ROOT + "/settings", save_settings, methods=["POST"]),
    Route(ROOT + "/pitches", add_pitch, methods=["POST"]),
    Route(ROOT + "/pitches/{pitch_id:id}", edit_pitch, methods=["POST"]),
    Route(ROOT + "/stages", add_stage, methods=["POST"]),
    Route(ROOT + "/stages/{stage_id:id}", edit_stage, methods=["POST"]),
    Route(ROOT + "/stages/{stage_id:id}/sessions", add_session, methods=["POST"]),
    Route(ROOT + "/sessions/{session_id:id}", edit_session, methods=["POST"]),
    Route(ROOT + "/import/{kind}", import_file, methods=["POST"]),
    Route(ROOT + "/rotate/{role}", rotate, methods=["POST"]),
    Route(ROOT + "/purge", purge, methods=["POST"]),
    Route(ROOT + "/dashboard.json", dashboard),
    Route(ROOT + "/export/{slug}.{fmt}", download),
    Route(ROOT + "/report", report_page),
    Route(ROOT + "/report.pdf", report_pdf),
    Route(ROOT + "/report/{name}.svg", chart),
]
