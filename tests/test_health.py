"""/healthz and /readyz: readiness names what failed and follows Redis and PostgreSQL
going away and coming back (real app processes, our own redis-server, and PostgreSQL
reached through a TCP proxy the test stops — never the machine's shared server)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from eventapp.core.db import Database
from tests.conftest import AppProcess, _postgres_url
from tests.support.servers import RedisServer, free_port
from tests.tcp_proxy import TcpProxy


def test_healthz_and_readyz_in_process(client: TestClient, db: Database, settings: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    body = ready.json()
    assert body["ready"] is True and body["failed"] == []
    expected = {"sql": "ok", "schema": "ok", "writer": "ok"}
    if settings.redis_url:
        expected["redis"] = "ok"
    assert body["checks"] == expected
    assert ready.status_code == 200


def wait_ready(url: str, want: bool, timeout: float = 15.0) -> tuple[float, dict[str, Any]]:
    """Poll /readyz until it says ``want``; returns the seconds it took and the body."""
    start = time.monotonic()
    body: dict[str, Any] = {}
    while time.monotonic() - start < timeout:
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            body = response.json()
            assert response.status_code == (200 if body["ready"] else 503)
            if body["ready"] is want:
                return time.monotonic() - start, body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/readyz never became ready={want}: {body}")


@pytest.mark.redis
@pytest.mark.slow
def test_readyz_follows_redis(
    own_redis: RedisServer, app_processes: Callable[..., AppProcess], tmp_path: Path
) -> None:
    app = app_processes(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ready.db'}",
            "REDIS_URL": own_redis.url,
            "EVENTAPP_NAMESPACE": f"ready-{uuid.uuid4().hex[:6]}",
        }
    )
    wait_ready(app.url, True)
    own_redis.stop()
    took, body = wait_ready(app.url, False)
    assert body["failed"] == ["redis"] and body["checks"]["sql"] == "ok"
    assert took < 10
    # The liveness probe does not care: the process itself is fine.
    assert httpx.get(f"{app.url}/healthz").json() == {"status": "ok"}
    own_redis.start()
    took, body = wait_ready(app.url, True)
    assert body["checks"]["redis"] == "ok" and took < 10


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    url = _postgres_url()
    if url is None:
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield url, schema
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_readyz_follows_postgres(
    postgres_schema: tuple[str, str], app_processes: Callable[..., AppProcess]
) -> None:
    url, schema = postgres_schema
    parsed = httpx.URL(url.replace("postgresql+psycopg", "http"))
    proxy = TcpProxy(free_port(), (parsed.host, parsed.port or 5432))
    proxy.start()
    proxied = url.replace(f"{parsed.host}:{parsed.port or 5432}", f"127.0.0.1:{proxy.port}")
    try:
        app = app_processes({"DATABASE_URL": f"{proxied}?options=-csearch_path%3D{schema}"})
        wait_ready(app.url, True)
        proxy.stop()
        took, body = wait_ready(app.url, False)
        assert body["failed"] == ["schema", "sql"] and took < 10
        assert body["checks"]["sql"] != "ok"
        proxy.start()
        took, body = wait_ready(app.url, True)
        assert body["checks"]["sql"] == "ok" and took < 10
    finally:
        proxy.stop()
