"""Hostile HTTP clients against a real ``python -m eventapp serve`` process: huge and
slow bodies, slow headers, huge ids, and the headers every response carries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from eventapp.core.db import Database
from eventapp.voting.rules import PitchSpec, create_event
from eventapp.web import limits
from tests.support.joining import join_http
from tests.support.phones import LiveClient
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    code: str
    db_path: Path

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app as ``python -m eventapp serve`` runs it, shared by the tests that leave it
    as they found it."""
    yield from _serve(tmp_path_factory.mktemp("served"))


@pytest.fixture
def served_alone(tmp_path: Path) -> Iterator[Served]:
    """A server of its own, for a test that breaks it."""
    yield from _serve(tmp_path)


def _serve(tmp_path: Path) -> Iterator[Served]:
    """The app as ``python -m eventapp serve`` runs it (uvicorn with our protocol)."""
    db_path = tmp_path / "app.db"
    db = Database(f"sqlite:///{db_path}")
    db.create_all()
    code = create_event("Hostile Hall", [PitchSpec("Smart Parking")], db=db).code
    db.close()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "eventapp", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    try:
        yield Served(url, port, process, code, db_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class PeakRss:
    """Samples a process's resident memory every 20 ms while the block runs."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.served.rss())
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.served.rss())


def _response_head(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def stream_chunked(
    served: Served, path: str, total: int, content_type: str = "application/json"
) -> tuple[bytes, int]:
    """POST ``total`` bytes as a chunked body (no Content-Length), stopping as soon as the
    server answers or drops the connection; returns the answer and the bytes sent."""
    sock = socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
            f"Origin: {served.url}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    chunk = b"1" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent, answer = 0, b""
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.settimeout(10)
            sock.sendall(frame)
            sent += len(chunk)
        answer = _response_head(sock)
    except (BrokenPipeError, ConnectionResetError):
        answer = _response_head(sock)
    finally:
        sock.close()
    return answer, sent


@pytest.mark.slow
def test_a_300_mb_anonymous_body_is_refused_with_413_and_costs_no_memory(served: Served) -> None:
    httpx.post(f"{served.url}/e/{served.code}/resume", json={"token": "x"}, timeout=5)
    before = served.rss()
    with PeakRss(served) as peak:
        answer, sent = stream_chunked(served, f"/e/{served.code}/resume", 300 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"content-security-policy" in answer.lower()
    # The server stopped reading long before 300 MB; the kernel buffers hold the rest.
    assert sent < 20 * 1024 * 1024, sent
    assert peak.peak - before < 20 * 1024 * 1024, (before, peak.peak)
    # ... and it still serves.
    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200


def test_too_large_join_form_gets_a_413_page_in_german_and_english(served: Served) -> None:
    page = httpx.get(f"{served.url}/e/{served.code}", timeout=5)
    big = {"name": "x" * (limits.ANONYMOUS_BODY_BYTES + 10), "csrf": "whatever"}
    for lang, expected in (
        ("de", "Diese Anfrage ist zu groß: Hier sind höchstens 16 KB erlaubt."),
        ("en", "This request is too large: the limit here is 16 KB."),
    ):
        response = httpx.post(
            f"{served.url}/e/{served.code}/join",
            data=big,
            headers={"Accept-Language": lang, "Origin": served.url},
            cookies=page.cookies,
            timeout=5,
        )
        assert (response.status_code, expected in response.text) == (413, True), response.text
        assert response.headers["x-frame-options"] == "DENY"


def test_body_limit_counts_streamed_bytes_not_the_declared_length(served: Served) -> None:
    """A client that lies in Content-Length is cut at the real count (h11 refuses a body
    longer than declared, so the lie here is a chunked body with no length at all), and
    a declared length over the limit is refused before any byte is read."""
    form = "application/x-www-form-urlencoded"
    answer, _ = stream_chunked(served, f"/e/{served.code}/privacy/delete", 200_000, form)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # A body the route never reads (not a form) ends the connection after the answer.
    answer, _ = stream_chunked(served, f"/e/{served.code}/privacy/delete", 200_000)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"connection: close" in answer.lower()
    sock = socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(
        f"POST /e/{served.code}/join HTTP/1.1\r\nHost: x\r\nAccept-Language: en\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 999999999\r\n\r\n".encode()
    )
    sock.settimeout(5)
    declared = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            declared += chunk
    sock.close()
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    assert b"the limit here is 16 KB" in declared


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the socket, or None if it stayed open."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - start
            if b"HTTP/1.1 408" in data:
                continue
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except TimeoutError:
        return None


@pytest.mark.slow
def test_slow_headers_and_slow_bodies_are_closed_within_the_documented_time(
    served: Served,
) -> None:
    start = time.monotonic()
    slow_headers = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        slow_headers.append(sock)
    silent = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(20)]
    slow_bodies = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", served.port))
        sock.sendall(
            (
                f"POST /e/{served.code}/join HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
                "name=a"
            ).encode()
        )
        slow_bodies.append(sock)

    # Keep the slow ones trickling: one byte each every 2 s, as a slowloris client does.
    def trickle() -> None:
        for _ in range(12):
            time.sleep(2)
            for sock in slow_headers + slow_bodies:
                with contextlib.suppress(OSError):
                    sock.send(b"X" if sock in slow_headers else b"a")

    threading.Thread(target=trickle, daemon=True).start()
    header_budget = limits.HEADER_SECONDS + 3
    body_budget = limits.ANONYMOUS_BODY_SECONDS + 3
    for sock in slow_headers + silent:
        remaining = header_budget - (time.monotonic() - start)
        assert _closed_within(sock, max(remaining, 0.1)) is not None, "header socket open"
    answers = []
    for sock in slow_bodies:
        remaining = body_budget - (time.monotonic() - start)
        sock.settimeout(max(remaining, 0.1))
        answers.append(_response_head(sock, max(remaining, 0.1)))
        assert _closed_within(sock, max(body_budget - (time.monotonic() - start), 0.1)) is not None
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
    for sock in slow_headers + silent + slow_bodies:
        sock.close()
    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200


def test_oversized_headers_are_refused(served: Served) -> None:
    sock = socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (limits.MAX_HEADER_BYTES + 100)
    )
    answer = _response_head(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 4"), answer[:100]


def test_huge_ids_are_404_and_errors_carry_security_headers(served_alone: Served) -> None:
    served = served_alone
    huge = 2**63
    page = httpx.get(f"{served.url}/e/{served.code}/network/contacts/{huge}", timeout=5)
    assert httpx.get(f"{served.url}/e/{served.code}/network/contacts/{huge - 1}").status_code == 403
    assert page.status_code == 404
    assert "Seite nicht gefunden." in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    # A real failure: the database loses a table under the running server.
    with sqlite3.connect(served.db_path) as conn:
        conn.execute("DROP TABLE event")
    broken = httpx.get(f"{served.url}/e/{served.code}", headers={"Accept-Language": "en"})
    assert broken.status_code == 500
    assert "Something went wrong on our side" in broken.text
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert name in broken.headers, broken.headers


@pytest.mark.slow
def test_live_sockets_and_kept_alive_connections_outlive_the_header_deadline(
    served: Served,
) -> None:
    """The header clock stops once a request head is complete: an upgraded socket and a
    connection between two requests are not cut by it."""

    async def scenario() -> dict[str, Any]:
        token = await join_http(served.url, served.code, "Long Stay")
        phone = LiveClient(served.url, served.code)
        welcome = await phone.connect({"type": "hello", "token": token})
        await asyncio.sleep(limits.HEADER_SECONDS + 1)
        pong = await phone.ws.ping()
        await asyncio.wait_for(pong, 5)
        await phone.close()
        return welcome

    sock = socket.create_connection(("127.0.0.1", served.port))
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    sock.sendall(request)
    first = _response_head(sock)
    welcome = asyncio.run(scenario())
    assert welcome["type"] == "welcome"
    assert first.startswith(b"HTTP/1.1 200")
    # The kept-alive connection was idle for > 5 s meanwhile: uvicorn closed it.
    assert _closed_within(sock, 1.0) is not None
    sock.close()
    again = socket.create_connection(("127.0.0.1", served.port))
    again.sendall(request)
    assert _response_head(again).startswith(b"HTTP/1.1 200")
    time.sleep(1)
    again.sendall(request)  # the second request on the same connection
    assert b"HTTP/1.1 200" in _response_head(again)  # after the first one's body
    again.close()


def test_a_form_with_too_many_fields_gets_a_clear_400_page(served: Served) -> None:
    fields = {f"f{i}": "x" for i in range(limits.MAX_FORM_FIELDS + 1)}
    response = httpx.post(
        f"{served.url}/e/{served.code}/privacy/delete",
        data=fields,
        headers={"Accept-Language": "de", "Origin": served.url},
        timeout=5,
    )
    assert response.status_code == 400
    assert "Dieses Formular konnte nicht gelesen werden" in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
