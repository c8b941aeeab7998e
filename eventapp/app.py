"""create_app(settings) -> Starlette. The lifespan opens the database, tallies and bus."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Match, Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from eventapp.admission.limits import open_limiter
from eventapp.core.bus import Bus, MemoryBus, RedisBus
from eventapp.core.db import Database
from eventapp.enums import Role
from eventapp.i18n import check_languages
from eventapp.live.hub import Hub
from eventapp.live.pump import live_endpoint
from eventapp.live.supervisor import Supervisor, closed_within
from eventapp.live.writer import VoteWriter
from eventapp.metrics import Metrics
from eventapp.networking import badge_views
from eventapp.networking import contact_views as network_contacts
from eventapp.networking import views as networking
from eventapp.networking.suggestions import SuggestionCache
from eventapp.organizing import attendee_views as attendee_console
from eventapp.organizing import views as organizer
from eventapp.questions import views as questions
from eventapp.settings import Settings
from eventapp.voting import hall_views as hall_screen
from eventapp.voting import screen_views as screens
from eventapp.voting import views as attendee
from eventapp.voting.tallies import MemoryTallies, RedisTallies, Tallies
from eventapp.web import health, pages, privacy
from eventapp.web.limits import BodyLimits
from eventapp.web.logs import install_log_redaction
from eventapp.web.render import template_environment
from eventapp.web.security import SecurityHeaders, http_error, server_error

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


def connection_counts(hub: Hub) -> list[tuple[int, str, int]]:
    """Sockets per event and role, read when Prometheus scrapes."""
    counts = []
    for event_id, stages in list(hub.events.items()):
        lives = list(stages.values())
        counts.append((event_id, Role.ATTENDEE.value, sum(len(x.phones) for x in lives)))
        screens = Counter(conn.role.value for x in lives for conn in x.screens)
        counts.extend((event_id, role, n) for role, n in sorted(screens.items()))
    return counts


# The live socket: every phone, moderator and projector (eventapp/live/pump.py).
LIVE_ROUTE = WebSocketRoute("/e/{code}/ws", live_endpoint)


class EventApp(Starlette):
    """Starlette, with the live socket taken before the middleware stack.

    A reconnect storm opens thousands of sockets a second; the stack (error and
    exception handlers, security headers, body limits, proxy headers, the router) passes a
    WebSocket through untouched yet costs several percent of each connect (issue 14's
    profiles). The live socket uses neither the client address nor the scheme (its
    Origin check compares with the Host header), so proxy headers do not matter to it;
    an exception reaches uvicorn, which logs it and closes the socket (1011), as
    through the stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            match, child = LIVE_ROUTE.matches(scope)
            if match is Match.FULL:
                scope["app"] = self
                scope.update(child)
                await live_endpoint(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, database: Database | None = None) -> Starlette:
    # A broken catalogue stops the start, not a page later (README "Languages").
    check_languages(settings.languages, settings.locale_dir)
    templates = Jinja2Templates(env=template_environment(str(ROOT / "templates")))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = database or Database(settings.database_url)
        db.prepare(auto_migrate=settings.auto_migrate)
        tallies, bus = open_live_backends(settings)
        metrics = Metrics()
        hub = Hub(settings=settings, db=db, tallies=tallies, bus=bus, metrics=metrics)
        metrics.count_connections(lambda: connection_counts(hub))
        writer = VoteWriter(
            db=db,
            tallies=tallies,
            on_applied=hub.votes_applied,
            on_tally_failure=hub.tallies_failed,
            batch_max=settings.vote_batch_max,
            metrics=metrics,
        )
        limiter = open_limiter(
            settings.redis_url,
            namespace=settings.namespace,
            rate=settings.join_rate,
            burst=settings.join_burst,
        )
        try:
            # Every background loop lives in this one group; a crashed loop is logged and
            # restarted (the writer first fails its batch: those phones resend).
            async with Supervisor() as loops:
                await hub.start(loops)
                loops.run("vote-writer", writer.run, on_crash=writer.fail_batch)
                loops.run("loop-lag", metrics.watch_loop_lag)
                try:
                    yield {
                        "settings": settings,
                        "db": db,
                        "hub": hub,
                        "writer": writer,
                        "loops": loops,
                        "templates": templates,
                        "suggestions": SuggestionCache(db=db),
                        "metrics": metrics,
                        "redis": tallies.client if isinstance(tallies, RedisTallies) else None,
                        "readiness": health.Readiness(),
                        "join_limiter": limiter,
                    }
                finally:
                    # Sockets are closed by now (uvicorn sent 1012 "service restart"):
                    # commit the votes still queued, then fail what is left (not_saved).
                    await writer.drain(seconds=10.0)
                    writer.stop()
                    await loops.stop(timeout=CLOSE_TIMEOUT)
        finally:
            await closed_within("the live bus", bus.close(), CLOSE_TIMEOUT)
            await closed_within("the tallies", tallies.close(), CLOSE_TIMEOUT)
            await closed_within("the join limiter", limiter.close(), CLOSE_TIMEOUT)
            if database is None:
                await closed_within("the database", asyncio.to_thread(db.close), CLOSE_TIMEOUT)

    routes = [
        *health.routes,
        *pages.routes,
        *attendee.routes,
        *screens.routes,
        *hall_screen.routes,
        *networking.routes,
        *network_contacts.routes,
        *badge_views.routes,
        *organizer.routes,
        *attendee_console.routes,
        *privacy.routes,
        *questions.routes,
        LIVE_ROUTE,
        Mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static"),
    ]
    # Outermost first: refusals of too large or too slow bodies get the headers too.
    middleware = [Middleware(SecurityHeaders), Middleware(BodyLimits)]
    if settings.trusted_proxies:
        # X-Forwarded-For/-Proto only from the proxies we were told about (TRUSTED_PROXIES);
        # from anyone else they are ignored, so no client can pose as another address.
        middleware.insert(
            0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
        )
    return EventApp(
        debug=settings.debug,
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, 500: server_error},
        lifespan=lifespan,
    )


def app_from_environ() -> Starlette:
    """Factory for uvicorn (``uvicorn --factory eventapp.app:app_from_environ``)."""
    logging.basicConfig(level=logging.INFO)
    install_log_redaction()
    return create_app(Settings.from_environ())
