"""create_app(settings) -> Starlette. The lifespan opens the database, tallies and bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from eventapp.core.bus import Bus, MemoryBus, RedisBus
from eventapp.core.db import Database
from eventapp.live.hub import Hub
from eventapp.live.pump import live_endpoint
from eventapp.live.supervisor import Supervisor, closed_within
from eventapp.live.writer import VoteWriter
from eventapp.networking import contact_views as network_contacts
from eventapp.networking import views as networking
from eventapp.networking.suggestions import SuggestionCache
from eventapp.organizing import views as organizer
from eventapp.settings import Settings
from eventapp.voting import screen_views as screens
from eventapp.voting import views as attendee
from eventapp.voting.tallies import MemoryTallies, RedisTallies, Tallies
from eventapp.web import pages, privacy
from eventapp.web.security import SecurityHeaders

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
CLOSE_TIMEOUT = 5.0  # seconds any one resource may take to close at shutdown


def open_live_backends(settings: Settings) -> tuple[Tallies, Bus]:
    """In-process tallies and bus, or Redis ones, chosen from the URL."""
    if not settings.redis_url:
        return MemoryTallies(), MemoryBus()
    client = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        health_check_interval=10,
        socket_connect_timeout=2,
        socket_keepalive=True,
    )
    return RedisTallies(client, namespace=settings.namespace), RedisBus(client)


def create_app(settings: Settings, *, database: Database | None = None) -> Starlette:
    templates = Jinja2Templates(directory=str(ROOT / "templates"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = database or Database(settings.database_url)
        db.create_all()
        tallies, bus = open_live_backends(settings)
        hub = Hub(settings=settings, db=db, tallies=tallies, bus=bus)
        writer = VoteWriter(
            db=db,
            tallies=tallies,
            on_applied=hub.votes_applied,
            on_tally_failure=hub.tallies_failed,
            batch_max=settings.vote_batch_max,
        )
        try:
            # Every background loop lives in this one group; a crashed loop is logged and
            # restarted (the writer first fails its batch: those phones resend).
            async with Supervisor() as loops:
                await hub.start(loops)
                loops.run("vote-writer", writer.run, on_crash=writer.fail_batch)
                try:
                    yield {
                        "settings": settings,
                        "db": db,
                        "hub": hub,
                        "writer": writer,
                        "loops": loops,
                        "templates": templates,
                        "suggestions": SuggestionCache(db=db),
                    }
                finally:
                    writer.stop()  # votes not yet committed answer not_saved
                    await loops.stop(timeout=CLOSE_TIMEOUT)
        finally:
            await closed_within("the live bus", bus.close(), CLOSE_TIMEOUT)
            await closed_within("the tallies", tallies.close(), CLOSE_TIMEOUT)
            if database is None:
                await closed_within("the database", asyncio.to_thread(db.close), CLOSE_TIMEOUT)

    routes = [
        *pages.routes,
        *attendee.routes,
        *screens.routes,
        *networking.routes,
        *network_contacts.routes,
        *organizer.routes,
        *privacy.routes,
        WebSocketRoute("/e/{code}/ws", live_endpoint),
        Mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static"),
    ]
    return Starlette(
        debug=settings.debug,
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )


def app_from_environ() -> Starlette:
    """Factory for uvicorn (``uvicorn --factory eventapp.app:app_from_environ``)."""
    logging.basicConfig(level=logging.INFO)
    return create_app(Settings.from_environ())
