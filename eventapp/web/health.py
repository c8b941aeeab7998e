"""Health for load balancers and orchestrators, and metrics for Prometheus.

/healthz   the process answers (cheap: no SQL, no Redis); for liveness probes.
/readyz    this process can serve: SQL answers, Redis answers (when configured), the schema
           is at the newest revision, and the vote writer runs.
           200 or 503, with JSON naming every check and what failed.
/metrics   Prometheus text format, only with ``Authorization: Bearer $METRICS_TOKEN``
           (no token configured: 404, as if there were no such page).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from eventapp.core import schema
from eventapp.core.db import Database
from eventapp.metrics import Metrics
from eventapp.settings import Settings

CHECK_TIMEOUT = 2.0
log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _schema_revision(session: Session) -> str | None:
    session.execute(text("SELECT 1"))
    return schema.current_revision(session.connection())


async def _check(name: str, awaitable: Awaitable[Any]) -> tuple[str, Any]:
    """ "ok" and the result, or what went wrong. The page is public: it names the kind of
    failure only; the details (addresses, server messages) go to the log."""
    try:
        return "ok", await asyncio.wait_for(awaitable, CHECK_TIMEOUT)
    except TimeoutError:
        log.warning("readiness: %s gave no answer within %.0f s", name, CHECK_TIMEOUT)
        return f"no answer within {CHECK_TIMEOUT:.0f} s", None
    except Exception as exc:
        log.warning("readiness: %s failed: %s", name, exc)
        return f"failed ({type(exc).__name__})", None


class Readiness:
    """The last readiness answer, reused for ``FRESH_SECONDS``: /readyz is anonymous, and a
    flood of probes must not turn into a flood of SQL queries and Redis pings."""

    FRESH_SECONDS = 1.0

    def __init__(self) -> None:
        self.checked_at = -1e9
        self.checks: dict[str, str] = {}
        self.lock = asyncio.Lock()


async def readyz(request: Request) -> Response:
    cache: Readiness = request.state.readiness
    async with cache.lock:
        if time.monotonic() - cache.checked_at > Readiness.FRESH_SECONDS:
            cache.checks = await _run_checks(request)
            cache.checked_at = time.monotonic()
    checks = cache.checks
    failed = sorted(name for name, result in checks.items() if result != "ok")
    return JSONResponse(
        {"ready": not failed, "failed": failed, "checks": checks},
        status_code=503 if failed else 200,
        headers={"Cache-Control": "no-store"},
    )


async def _run_checks(request: Request) -> dict[str, str]:
    state = request.state
    db: Database = state.db
    checks: dict[str, str] = {}
    checks["sql"], revision = await _check("sql", db.run_read(_schema_revision))
    if checks["sql"] == "ok":
        head = schema.head_revision()
        checks["schema"] = "ok" if revision == head else f"at {revision}, newest is {head}"
    else:
        checks["schema"] = "unknown (no SQL)"
    redis = state.redis
    if redis is not None:
        checks["redis"], _ = await _check("redis", redis.ping())
    checks["writer"] = "ok" if state.writer.running else "stopped"
    return checks


async def metrics(request: Request) -> Response:
    settings: Settings = request.state.settings
    if not settings.metrics_token:
        return PlainTextResponse("Not Found", status_code=404)
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
        return PlainTextResponse(
            "metrics need Authorization: Bearer <METRICS_TOKEN>",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry: Metrics = request.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
]
