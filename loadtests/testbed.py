"""A multi-host test bed on one machine: network namespaces as hosts, one bridge between them.

    python -m loadtests.testbed up        # build it and leave it running (prints addresses)
    python -m loadtests.testbed status    # what exists now
    python -m loadtests.testbed down      # remove every namespace, link and process of it

Hosts (each its own network namespace with one veth leg on the bridge ``<tag>0``):

    front  10.231.7.10  nginx, least_conn over both app hosts, WebSocket upgrade
    app1   10.231.7.11  uvicorn eventapp.app:app_from_environ on :8000
    app2   10.231.7.12  the same
    redis  10.231.7.20  redis-server on :6379 (no persistence)
    pg     10.231.7.30  a PostgreSQL cluster of its own (Debian's binaries, initdb in the
                        work dir), so a drill may stop and restart it; the machine's shared
                        server is never touched
    (machine) 10.231.7.1  the bridge's address: the load generator reaches every host here

The subnet and the names are private to the namespaces created here: the load generator
sends traffic to no other address (``check_target`` refuses any other). ``down`` finds
what to remove by name (namespaces ``<tag>-*``, the bridge) and ends the processes living
in those namespaces (``ip netns pids``), so it also cleans up after a run that crashed.
Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), ``ip``, nginx, redis-server and
PostgreSQL's server binaries (``/usr/lib/postgresql/*/bin``).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from eventapp.core.db import Database
from loadtests.harness import RESULTS
from tests.support.servers import AppServer, RedisServer, app_env, in_netns, wait_for_port

APP_PORT = 8000
REDIS_PORT = 6379
PG_PORT = 5432
HOSTS = {"front": 10, "app1": 11, "app2": 12, "redis": 20, "pg": 30}
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class TestbedUnavailable(RuntimeError):
    """This machine cannot build the test bed (no namespaces allowed, a program missing)."""


def run(
    cmd: list[str], *, check: bool = True, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip() or result.stdout}")
    if not quiet and result.returncode != 0:
        print(f"   ({' '.join(cmd)}: {result.stderr.strip()})", file=sys.stderr)
    return result


def pg_bin() -> Path | None:
    """Newest PostgreSQL server binaries Debian installed, if any."""
    found = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=lambda p: _version(p.parent.name))
    found = [p for p in found if (p / "postgres").exists() and (p / "initdb").exists()]
    return found[-1] if found else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def why_unavailable(tag: str = "eatp") -> str | None:
    """None when the test bed can be built here; else the reason (for a skip or an error)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the test bed needs root (ip netns, veth, bridge)"
    for program in ("ip", "nginx", "redis-server"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install -y {_package(program)})"
    if pg_bin() is None:
        return "PostgreSQL server binaries missing (apt-get install -y postgresql)"
    probe = f"{tag}-probe-{uuid.uuid4().hex[:4]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add is not permitted here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _package(program: str) -> str:
    return {"ip": "iproute2", "redis-server": "redis-server"}.get(program, program)


@dataclass
class Testbed:
    """The hosts of one test bed. ``with Testbed(...) as bed:`` builds and starts
    everything and removes all of it when the block ends, also on failure."""

    __test__ = False  # not a pytest test class despite its name

    tag: str = "eatb"
    subnet: str = "10.231.7"
    workdir: Path | None = None
    # What the load generator and nginx wait for before sending traffic to an app host;
    # /readyz once the app has it (it also checks SQL, Redis and the schema).
    ready_path: str = "/healthz"
    apps: list[AppServer] = field(default_factory=list)
    redis: RedisServer | None = None
    nginx: subprocess.Popen[bytes] | None = None
    namespace: str = field(default_factory=lambda: f"testbed-{uuid.uuid4().hex[:8]}")

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = Path(f"/tmp/eventapp-testbed-{self.tag}")
        net = ipaddress.ip_network(f"{self.subnet}.0/24")
        if not net.is_private:
            raise ValueError(f"{net} is not a private subnet")

    # ---------------------------------------------------------------- addresses

    @property
    def bridge(self) -> str:
        return f"{self.tag}0"

    def netns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def addr(self, host: str) -> str:
        return f"{self.subnet}.{HOSTS[host]}"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    @property
    def front_url(self) -> str:
        return f"http://{self.addr('front')}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.addr('front')}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{self.addr('pg')}:{PG_PORT}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.addr('redis')}:{REDIS_PORT}/0"

    def check_target(self, url: str) -> str:
        """Refuse any address that is not one of this test bed's hosts."""
        host = httpx.URL(url).host
        if host not in {self.addr(h) for h in HOSTS}:
            raise ValueError(f"{url} is not a host of this test bed")
        return url

    @property
    def pg_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "pg"

    # ---------------------------------------------------------------- life cycle

    def __enter__(self) -> Testbed:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.down()

    def up(self) -> None:
        reason = why_unavailable(self.tag)
        if reason is not None:
            raise TestbedUnavailable(reason)
        if Path(f"/sys/class/net/{self.bridge}").exists() or self._our_namespaces():
            raise RuntimeError(
                f"a test bed '{self.tag}' exists already: python -m loadtests.testbed down"
            )
        assert self.workdir is not None
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        self.workdir.chmod(0o755)  # the postgres user must reach its data directory
        (self.workdir / "state.json").write_text(
            json.dumps({"tag": self.tag, "subnet": self.subnet, "namespace": self.namespace})
        )
        self._network()
        self.start_pg()
        self.start_redis()
        # The schema first, from one place: two app processes starting at once on a fresh
        # PostgreSQL race in create_all (issue 10). With migrations this is `migrate`.
        db = Database(self.database_url)
        db.migrate()  # the real path: every table, whatever this process imported
        db.engine.dispose()
        for host in ("app1", "app2"):
            self.apps.append(self._app(host))
            self.apps[-1].start()
        self.start_nginx()

    def _network(self) -> None:
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for host in HOSTS:
            ns, outside = self.netns(host), self.veth(host)
            run(["ip", "netns", "add", ns])
            run(["ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "link", "set", outside, "master", self.bridge])
            run(["ip", "link", "set", outside, "up"])
            inside = in_netns(ns)
            run([*inside, "ip", "addr", "add", f"{self.addr(host)}/24", "dev", "eth0"])
            run([*inside, "ip", "link", "set", "eth0", "up"])
            run([*inside, "ip", "link", "set", "lo", "up"])

    def veth(self, host: str) -> str:
        return f"v{self.tag}{host}"[:15]

    # ---------------------------------------------------------------- PostgreSQL

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        binary = pg_bin()
        assert binary is not None
        return run(
            [
                *in_netns(self.netns("pg")),
                "runuser",
                "-u",
                "postgres",
                "--",
                str(binary / args[0]),
                *args[1:],
            ],
            check=check,
        )

    def start_pg(self) -> None:
        data = self.pg_dir / "data"
        if not data.exists():
            self.pg_dir.mkdir()
            shutil.chown(self.pg_dir, "postgres", "postgres")
            self._pg(
                "initdb",
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.subnet}.0/24 trust\n")
        options = (
            f"-c listen_addresses={self.addr('pg')} -c port={PG_PORT} "
            f"-c unix_socket_directories={self.pg_dir} -c max_connections=200"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(self.pg_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        wait_for_port(PG_PORT, host=self.addr("pg"))

    def stop_pg(self) -> None:
        """A clean fast shutdown (what `systemctl restart postgresql` does first)."""
        self._pg("pg_ctl", "-D", str(self.pg_dir / "data"), "-m", "fast", "-w", "-t", "60", "stop")

    # ---------------------------------------------------------------- Redis, apps, nginx

    def start_redis(self) -> None:
        assert self.workdir is not None
        self.redis = RedisServer(
            REDIS_PORT, self.workdir, host=self.addr("redis"), netns=self.netns("redis")
        )
        self.redis.start()

    def _app(self, host: str) -> AppServer:
        assert self.workdir is not None
        return AppServer(
            APP_PORT,
            app_env(self.database_url, self.redis_url, self.namespace),
            self.workdir / f"{host}.log",
            host=self.addr(host),
            netns=self.netns(host),
            health_path=self.ready_path,
        )

    def app(self, host: str) -> AppServer:
        return self.apps[["app1", "app2"].index(host)]

    def start_nginx(self) -> None:
        assert self.workdir is not None
        prefix = self.workdir / "nginx"
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        (prefix / "tmp").chmod(0o777)
        (prefix / "nginx.conf").write_text(self.nginx_conf(prefix))
        with (prefix / "stderr.log").open("ab") as log:
            self.nginx = subprocess.Popen(
                [
                    *in_netns(self.netns("front")),
                    shutil.which("nginx") or "nginx",
                    "-p",
                    str(prefix),
                    "-c",
                    str(prefix / "nginx.conf"),
                    "-e",
                    str(prefix / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                raise RuntimeError(f"nginx exited: {(prefix / 'error.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (
                    httpx.get(f"{self.front_url}/healthz", timeout=1, trust_env=False).status_code
                    == 200
                ):
                    return
            time.sleep(0.1)
        raise TimeoutError("nginx did not answer")

    def nginx_conf(self, prefix: Path) -> str:
        tmp = prefix / "tmp"
        # max_fails=0: nginx never marks an app host down; a refused connect just moves
        # that one request on to the other host (proxy_next_upstream). With max_fails=1 a
        # host that failed once is let back in by one probe request per fail_timeout, and
        # only a *finished* request clears it: a WebSocket probe finishes when the socket
        # closes, so a restarted host took one phone per 3 s (found by rolling-restart).
        servers = "\n".join(
            f"        server {self.addr(h)}:{APP_PORT} max_fails=0;" for h in ("app1", "app2")
        )
        return f"""# Written by loadtests/testbed.py; the deployment guide's nginx, on a namespace.
worker_processes 1;
worker_rlimit_nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[1]};
pid {prefix}/nginx.pid;
user nobody nogroup;
events {{ worker_connections 16384; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream eventapp {{
        least_conn;
{servers}
    }}
    server {{
        listen {self.addr("front")}:80 backlog=4096;
        location / {{
            proxy_pass http://eventapp;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503;
            # Sockets stay open for a whole session; the phones ping every 25 s.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
"""

    # ---------------------------------------------------------------- faults

    def cut(self, host: str) -> None:
        """Unplug a host: its leg on the bridge goes down, packets to it vanish (no RST)."""
        run(["ip", "link", "set", self.veth(host), "down"])

    def plug(self, host: str) -> None:
        run(["ip", "link", "set", self.veth(host), "up"])

    # ---------------------------------------------------------------- teardown

    def _our_namespaces(self) -> list[str]:
        listed = run(["ip", "netns", "list"], check=False, quiet=True).stdout.split("\n")
        names = [line.split()[0] for line in listed if line.strip()]
        return [n for n in names if n.startswith(f"{self.tag}-")]

    def down(self) -> list[str]:
        """Remove every process, namespace, link and file of this test bed; returns what
        it removed. Safe to call twice, and after a crashed run (``down`` command)."""
        removed: list[str] = []
        for app in self.apps:
            with contextlib.suppress(Exception):
                app.kill()
        namespaces = self._our_namespaces()
        if self.netns("pg") in namespaces and (self.pg_dir / "data" / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._pg(
                    "pg_ctl",
                    "-D",
                    str(self.pg_dir / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "15",
                    "stop",
                    check=False,
                )
        # Everything still running in our namespaces was started by a test bed.
        pids = self._pids(namespaces)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._pids(namespaces):
            time.sleep(0.1)
        for pid in self._pids(namespaces):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in (
            self.nginx,
            self.redis.process if self.redis else None,
            *(a.process for a in self.apps),
        ):
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.wait(timeout=5)
        if pids:
            removed.append(f"{len(pids)} processes")
        for ns in namespaces:
            run(["ip", "netns", "del", ns], check=False)
            removed.append(f"netns {ns}")
        # Deleting a namespace deletes its veth end and with it the pair; the bridge stays.
        for host in HOSTS:
            if Path(f"/sys/class/net/{self.veth(host)}").exists():
                run(["ip", "link", "del", self.veth(host)], check=False, quiet=True)
        if Path(f"/sys/class/net/{self.bridge}").exists():
            run(["ip", "link", "del", self.bridge], check=False)
            removed.append(f"bridge {self.bridge}")
        if self.workdir is not None and self.workdir.exists():
            self._keep_logs()
            shutil.rmtree(self.workdir, ignore_errors=True)
            removed.append(f"dir {self.workdir}")
        return removed

    def _keep_logs(self) -> None:
        """Copy the hosts' logs to loadtests/results/testbed-<tag>-logs/ (the newest run)."""
        assert self.workdir is not None
        keep = RESULTS / f"testbed-{self.tag}-logs"
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        for log in self.workdir.rglob("*.log"):
            with contextlib.suppress(OSError):
                shutil.copy(log, keep / str(log.relative_to(self.workdir)).replace("/", "-"))

    @staticmethod
    def _pids(namespaces: list[str]) -> list[int]:
        pids: list[int] = []
        for ns in namespaces:
            out = run(["ip", "netns", "pids", ns], check=False, quiet=True).stdout
            pids += [int(p) for p in out.split()]
        return pids

    def status(self) -> dict[str, object]:
        return {
            "namespaces": {ns: self._pids([ns]) for ns in self._our_namespaces()},
            "bridge": Path(f"/sys/class/net/{self.bridge}").exists(),
            "workdir": str(self.workdir) if self.workdir and self.workdir.exists() else None,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.testbed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--tag", default="eatb", help="name prefix of namespaces and bridge")
    p.add_argument("--subnet", default="10.231.7", help="first three octets of the /24")
    args = p.parse_args(argv)
    bed = Testbed(tag=args.tag, subnet=args.subnet)
    if args.command == "down":
        removed = bed.down()
        print("removed: " + (", ".join(removed) if removed else "nothing (no test bed)"))
        return 0
    if args.command == "status":
        print(json.dumps(bed.status(), indent=2))
        return 0
    try:
        bed.up()
    except BaseException:
        bed.down()
        raise
    for host in HOSTS:
        print(f"{host:6} {bed.addr(host):14} netns {bed.netns(host)}")
    print(f"front  {bed.front_url}   DATABASE_URL={bed.database_url}   REDIS_URL={bed.redis_url}")
    print("left running; remove with: python -m loadtests.testbed down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
