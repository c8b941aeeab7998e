"""Contact exchange pages: my personal code, the scanner, the preview a scan opens,
requests, blocks, my contacts with notes, and vCard downloads. Transport only."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventapp.networking import contacts as ct
from eventapp.networking import profiles as nw
from eventapp.networking import queries as store
from eventapp.networking.views import Me, back_to, checked_form, notifier, page, show
from eventapp.web.pages import qr_svg
from eventapp.web.render import base_url


def exchange_link(request: Request, me: Me, token: str) -> str:
    return f"{base_url(request)}/e/{me.event.code}/n/{token}"


async def code_page(request: Request, me: Me) -> Response:
    nw.require_opted_in(await me.db.run_read(store.person, me.id))
    return show(request, me, "code.html", {})


async def code_svg(request: Request, me: Me) -> Response:
    token = await ct.my_token(me.event_id, me.id, db=me.db)
    svg = qr_svg(exchange_link(request, me, token))
    # The link is a credential for exchanging with me: never cached anywhere.
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


async def rotate(request: Request, me: Me) -> Response:
    form = await checked_form(request, me)
    if isinstance(form, Response):
        return form
    await ct.rotate_token(me.event_id, me.id, db=me.db)
    return back_to(me, "/code", "rotated")


async def scan_page(request: Request, me: Me) -> Response:
    return show(request, me, "scan.html", {})


async def scanned(request: Request, me: Me) -> Response:
    """A scanned code: GET shows who it is and asks to confirm; POST confirms."""
    token = request.path_params["token"]
    if request.method == "POST":
        form = await checked_form(request, me)
        if isinstance(form, Response):
            return form
        owner_id = await ct.exchange(me.event_id, me.id, token, db=me.db, notify=notifier(request))
        return back_to(me, f"/contacts/{owner_id}", "exchanged")
    person = await me.db.run_read(store.person, me.id)
    if person is None or not person.opted_in:
        return show(request, me, "preview.html", {"owner": None, "token": token}, status=403)
    owner = await ct.preview_exchange(me.event_id, me.id, token, db=me.db)
    return show(request, me, "preview.html", {"owner": owner, "token": token})


async def request_contact(request: Request, me: Me) -> Response:
    form = await checked_form(request, me)
    if isinstance(form, Response):
        return form
    link = await ct.request_contact(
        me.event_id,
        me.id,
        int(request.path_params["attendee_id"]),
        db=me.db,
        notify=notifier(request),
    )
    return back_to(me, "", "requested" if link.state == "pending" else "connected")


async def answer(request: Request, me: Me) -> Response:
    form = await checked_form(request, me)
    if isinstance(form, Response):
        return form
    if request.path_params["answer"] not in ("accept", "decline"):
        raise nw.Refused("unknown_request", "No such request.")
    accept = request.path_params["answer"] == "accept"
    await ct.answer_request(
        int(request.path_params["link_id"]),
        me.id,
        accept=accept,
        db=me.db,
        notify=notifier(request),
    )
    return back_to(me, "/contacts" if accept else "", "accepted" if accept else "declined")


async def block(request: Request, me: Me) -> Response:
    form = await checked_form(request, me)
    if isinstance(form, Response):
        return form
    other = int(request.path_params["attendee_id"])
    if form.get("undo"):
        await ct.unblock(me.event_id, me.id, other, db=me.db)
        return back_to(me, "/people", "unblocked")
    await ct.block(me.event_id, me.id, other, db=me.db)
    return back_to(me, "/people", "blocked")


async def contacts_page(request: Request, me: Me) -> Response:
    only = request.path_params.get("attendee_id")
    found = await ct.my_contacts(me.id, db=me.db, only=only)
    if only is not None and not found:
        raise nw.Refused("not_connected", "This person is not among your contacts.")
    blocked = await me.db.run_read(store.blocks_by, me.id)
    return show(
        request,
        me,
        "contacts.html",
        {
            "contacts": found,
            "single": only is not None,
            "blocked": blocked,
        },
    )


async def note(request: Request, me: Me) -> Response:
    form = await checked_form(request, me)
    if isinstance(form, Response):
        return form
    other = int(request.path_params["attendee_id"])
    await ct.save_note(me.id, other, str(form.get("note", "")), db=me.db)
    return back_to(me, f"/contacts/{other}", "noted")


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "contact"


async def vcards(request: Request, me: Me) -> Response:
    only = request.path_params.get("attendee_id")
    found = await ct.my_contacts(me.id, db=me.db, only=only)
    if only is not None and not found:
        raise nw.Refused("not_connected", "This person is not among your contacts.")
    body = "".join(ct.vcard(c, event_name=me.event.name) for c in found)
    name = _filename(found[0].person.name) if only is not None else "contacts"
    return Response(
        body.encode(),
        media_type="text/vcard; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.vcf"',
            "Cache-Control": "no-store",
        },
    )


routes = [
    Route("/e/{code}/network/code", page(code_page)),
    Route("/e/{code}/network/code.svg", page(code_svg)),
    Route("/e/{code}/network/code/rotate", page(rotate), methods=["POST"]),
    Route("/e/{code}/network/scan", page(scan_page)),
    Route("/e/{code}/n/{token}", page(scanned), methods=["GET", "POST"]),
    Route("/e/{code}/network/request/{attendee_id:id}", page(request_contact), methods=["POST"]),
    Route("/e/{code}/network/requests/{link_id:id}/{answer:str}", page(answer), methods=["POST"]),
    Route("/e/{code}/network/block/{attendee_id:id}", page(block), methods=["POST"]),
    Route("/e/{code}/network/contacts", page(contacts_page)),
    Route("/e/{code}/network/contacts.vcf", page(vcards)),
    Route("/e/{code}/network/contacts/{attendee_id:id}", page(contacts_page)),
    Route("/e/{code}/network/contacts/{attendee_id:id}.vcf", page(vcards)),
    Route("/e/{code}/network/contacts/{attendee_id:id}/note", page(note), methods=["POST"]),
]
