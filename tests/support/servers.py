"""Real servers for the tests, the benchmark and the drills: redis-server and uvicorn
processes, started on free ports, health-checked, stopped (or killed with their whole
process tree) when done.

Everything listens on loopback only (or on a test bed host's address inside its network
namespace), and every process started by ``Servers`` is stopped when its ``with`` block
ends, also when a run fails half-way.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent.parent


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (children inherit it): 10,000
    sockets need more than the usual 1,024 on both sides."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port}")


def in_netns(netns: str | None) -> list[str]:
    """Command prefix that runs a program inside a network namespace (the test bed's
    hosts, loadtests/testbed.py); nothing for the machine's own network."""
    return ["ip", "netns", "exec", netns] if netns else []


# ------------------------------------------------------------------ processes


@dataclass
class RedisServer:
    """A redis-server of our own: empty, nothing persisted, so a restart is what a crash of
    a non-persistent Redis does. ``external_url`` stands for a server named by REDIS_URL
    instead, which we neither start nor stop."""

    port: int
    workdir: Path | None
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    netns: str | None = None
    external_url: str | None = None

    @property
    def url(self) -> str:
        return self.external_url or f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found: run .ci/test, which installs it")
        self.process = subprocess.Popen(
            [
                *in_netns(self.netns),
                binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                # Off loopback (a test bed host) protected mode refuses every client.
                "--protected-mode",
                "yes" if self.host == "127.0.0.1" else "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, host=self.host)

    def kill(self) -> None:
        """What a crash of a non-persistent Redis does: everything in it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Kill and start again with no data."""
        assert self.external_url is None, "cannot restart an external REDIS_URL server"
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class AppServer:
    """One uvicorn invocation (one process, or a master with ``workers`` children)."""

    port: int
    env: dict[str, str]
    log: Path
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    # The test bed (testbed.py) runs apps on their own address inside a network
    # namespace, and may wait for a readiness path instead of /healthz.
    host: str = "127.0.0.1"
    netns: str | None = None
    health_path: str = "/healthz"
    # The load tests run the app as production does (``python -m eventapp serve``: the
    # guarded h11 protocol with its header deadline, the keep-alive and graceful-shutdown
    # settings); the tests' default is plain uvicorn with the same app.
    production: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        cmd = self._production_command() if self.production else self._uvicorn_command()
        # Simulated phones all come from 127.0.0.1, one address group: lift the join
        # limit (README, "Trusting the result") unless a run sets it on purpose.
        env = {
            "JOIN_BURST": "1000000",
            "JOIN_RATE": "100000",
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        if "REDIS_URL" not in self.env:
            env.pop("REDIS_URL", None)
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}{self.health_path}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(self.log.read_text()[-2000:])

    def _production_command(self) -> list[str]:
        return [
            *in_netns(self.netns),
            sys.executable,
            "-m",
            "eventapp",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def _uvicorn_command(self) -> list[str]:
        cmd = [
            *in_netns(self.netns),
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "eventapp.app:app_from_environ",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--ws",
            "websockets-sansio",
            "--ws-max-size",
            "65536",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
            "--limit-concurrency",
            "100000",
        ]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        return cmd

    def kill(self) -> None:
        """SIGKILL the whole process tree: no shutdown hooks, no flushing."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def rss(self) -> int:
        """Resident memory of the server and its worker processes, in bytes."""
        return tree_rss(self.process)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    t = p.cpu_times()
                    total += t.user + t.system
        return total


def tree_rss(process: subprocess.Popen[bytes] | None) -> int:
    if process is None:
        return 0
    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(process.pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
    return total


@dataclass
class Servers:
    """The processes of one run; leaving the ``with`` block stops all of them."""

    workdir: Path
    redis: RedisServer | None = None
    apps: list[AppServer] = field(default_factory=list)

    def start_redis(self) -> RedisServer:
        self.redis = RedisServer(free_port(), self.workdir)
        self.redis.start()
        return self.redis

    def start_app(
        self, env: dict[str, str], *, workers: int = 1, production: bool = False
    ) -> AppServer:
        app = AppServer(
            free_port(),
            env,
            self.workdir / f"app-{len(self.apps)}.log",
            workers,
            production=production,
        )
        self.apps.append(app)
        app.start()
        return app

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        for app in self.apps:
            app.stop()
        if self.redis is not None:
            self.redis.kill()


def app_env(database_url: str, redis_url: str | None, namespace: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "EVENTAPP_NAMESPACE": namespace,
        "SECRET_KEY": "loadtest-secret",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env
