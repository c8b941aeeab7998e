"""Starting several processes at once on a FRESH PostgreSQL schema never races: the
migration lock lets one create the schema while the others wait (issue 10: before, one
died in create_all with UniqueViolation on the pitchstate type and `serve --workers 2`
exited). Repeated, because a race shows only sometimes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from sqlalchemy import create_engine, inspect, text

from eventapp.core import schema
from tests.conftest import ROOT, _postgres_url
from tests.support.servers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROUNDS = 3


@pytest.fixture
def fresh_schemas() -> Iterator[list[str]]:
    url = _postgres_url()
    if url is None:
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    made: list[str] = []
    yield made
    admin = create_engine(url)
    with admin.begin() as conn:
        for name in made:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()


def new_schema(made: list[str]) -> tuple[str, dict[str, str]]:
    url = _postgres_url()
    assert url is not None
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    admin.dispose()
    made.append(name)
    env = {**os.environ, "DATABASE_URL": f"{url}?options=-csearch_path%3D{name}"}
    env.pop("REDIS_URL", None)
    return name, env


def launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def uvicorn_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "eventapp.app:app_from_environ",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited {proc.returncode}: {log.read_text()[-3000:]}"
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if response.status_code == 200 and response.json()["ready"]:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready on {port}: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def workers_of(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    return [
        c
        for c in psutil.Process(proc.pid).children()
        if c.is_running() and "spawn_main" in " ".join(c.cmdline())
    ]


def assert_schema_at_head(name: str) -> None:
    url = _postgres_url()
    assert url is not None
    engine = create_engine(url, connect_args={"options": f"-csearch_path={name}"})
    with engine.connect() as conn:
        assert schema.current_revision(conn) == schema.head_revision()
        assert "pitch" in inspect(conn).get_table_names()
    engine.dispose()


def test_serve_with_two_workers_on_a_fresh_database(
    fresh_schemas: list[str], tmp_path: Path
) -> None:
    for round_ in range(ROUNDS):
        name, env = new_schema(fresh_schemas)
        port = free_port()
        log = tmp_path / f"serve-{round_}.log"
        cmd = [sys.executable, "-m", "eventapp", "serve", "--workers", "2", "--port", str(port)]
        proc = launch(cmd, env, log)
        try:
            wait_ready(port, proc, log)
            # Both workers came up and stay up (a worker that died in start-up is gone).
            time.sleep(1.0)
            assert len(workers_of(proc)) == 2, log.read_text()[-3000:]
            for _ in range(6):
                assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["ready"] is True
            assert proc.poll() is None
            assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
        finally:
            stop(proc)
        assert_schema_at_head(name)


def test_two_separate_processes_on_a_fresh_database(
    fresh_schemas: list[str], tmp_path: Path
) -> None:
    for round_ in range(ROUNDS):
        name, env = new_schema(fresh_schemas)
        ports = [free_port(), free_port()]
        logs = [tmp_path / f"app-{round_}-{i}.log" for i in range(2)]
        procs = [launch(uvicorn_cmd(p), env, log) for p, log in zip(ports, logs, strict=True)]
        try:
            for port, proc, log in zip(ports, procs, logs, strict=True):
                wait_ready(port, proc, log)
            for log in logs:
                assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
        finally:
            for proc in procs:
                stop(proc)
        assert_schema_at_head(name)
