"""Locust scenarios for a hall: phones, a projector and a moderator on one event.

Create the event, start the app, then run Locust against it:

    python -m eventapp create "Load" --pitch A --pitch B --pitch C --live-results --json \\
        > /tmp/event.json
    EVENT_JSON=/tmp/event.json locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 300 -r 50 -t 60s --csv /tmp/load

Users:
- ``Phone``: joins through the real form (CSRF cookie + field), holds the WebSocket, says
  hello with its device token, votes when ``state`` says its current pitch is open,
  sometimes changes its vote, sometimes drops the connection and reconnects with the same
  token, resending its unacknowledged vote with the same seq.
- ``Projector`` (one): reports "WS vote→projector", the time from a vote's ack to the
  first screen whose ``votes_in`` includes it (acks are counted in this Locust process).
- ``Moderator`` (one): cycles next → open_voting → wait → close_voting.

Custom stats: "WS connect", "WS vote ack", "WS vote→projector", "WS command <type>",
"WS reconnect". When Locust quits, thresholds are checked and set the exit code:
LOAD_ACK_P99_MS (250), LOAD_V2P_P99_MS (500), and no failures at all. LOAD_WARMUP (5 s)
is how long the moderator waits before the first pitch; LOAD_VOTE_WINDOW (8 s) and
LOAD_CLOSED_PAUSE (2 s) shape each cycle. With LOAD_SUMMARY
set, the acked votes and the projector's last tallies are written there as JSON (the
smoke test compares them with SQL).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import gevent  # type: ignore[import-untyped]
import websocket
from gevent.queue import Empty, Queue  # type: ignore[import-untyped]
from locust import HttpUser, User, between, events, task
from locust.env import Environment

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
VOTE_WINDOW = float(os.environ.get("LOAD_VOTE_WINDOW", "8"))
CLOSED_PAUSE = float(os.environ.get("LOAD_CLOSED_PAUSE", "2"))
# The hall fills before the first pitch: joins and votes then do not compete at the start.
WARMUP = float(os.environ.get("LOAD_WARMUP", "5"))


@dataclass
class EventLinks:
    code: str
    moderator_key: str
    projector_key: str


def _event_links() -> EventLinks:
    """From EVENT_JSON (``python -m eventapp create --json``) or EVENT_CODE + keys."""
    path = os.environ.get("EVENT_JSON")
    if path:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        links = data["links"]
        return EventLinks(
            data["code"],
            links["moderator"].rsplit("/", 1)[1],
            links["projector"].rsplit("/", 1)[1],
        )
    return EventLinks(
        os.environ["EVENT_CODE"], os.environ["MODERATOR_KEY"], os.environ["PROJECTOR_KEY"]
    )


@dataclass
class Shared:
    """What the users of this Locust process share (gevent: one thread, no locks)."""

    # pitch_id -> times of first acks, in order: the k-th entry is the k-th voter.
    first_acks: dict[int, list[float]] = field(default_factory=dict)
    first_ackers: set[tuple[int, int]] = field(default_factory=set)
    # (attendee_id, pitch_id) -> (score, seq) the server confirmed as saved, newest.
    acked: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    projector_last: dict[int, dict[str, int]] = field(default_factory=dict)


SHARED = Shared()
EVENT: EventLinks | None = None


@events.init.add_listener  # type: ignore[untyped-decorator]
def _on_init(environment: Environment, **_kw: Any) -> None:
    global EVENT
    EVENT = _event_links()


def _fire(
    user: User, name: str, started: float, *, length: int = 0, error: Exception | None = None
) -> None:
    user.environment.events.request.fire(
        request_type="WS",
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=length,
        exception=error,
        context={},
    )


class LiveSocket:
    """A WebSocket with a reader greenlet that hands each message to ``on_message``."""

    def __init__(self, url: str, origin: str, on_message: Any) -> None:
        self.ws = websocket.create_connection(
            url, origin=origin, timeout=30, enable_multithread=True
        )
        self.on_message = on_message
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            while True:
                raw = self.ws.recv()
                if not raw:
                    return
                self.on_message(json.loads(raw))
        except (websocket.WebSocketException, OSError):
            return

    @property
    def closed(self) -> bool:
        return not self.ws.connected

    def send(self, message: dict[str, Any]) -> bool:
        """False when the socket is gone; the phone reconnects on its next task."""
        try:
            self.ws.send(json.dumps(message))
            return True
        except (websocket.WebSocketException, OSError):
            return False

    def close(self) -> None:
        # Abruptly, as a phone losing its network does; no closing handshake to wait for.
        self.reader.kill(block=True, timeout=1)
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self.ws.shutdown()


def _ws_url(host: str, code: str) -> str:
    return host.replace("http://", "ws://").replace("https://", "wss://") + f"/e/{code}/ws"


class Phone(HttpUser):
    wait_time = between(1, 3)
    weight = 100

    def on_start(self) -> None:
        assert EVENT is not None
        self.code = EVENT.code
        self.token = self._join()
        self.sock: LiveSocket | None = None
        self.attendee_id = 0
        self.seq = 0
        self.open_pitch: int | None = None
        self.pending: dict[int, tuple[int, int, float]] = {}  # pitch -> (score, seq, sent)
        self.mine: dict[int, tuple[int, int]] = {}
        self.welcomed = gevent.event.Event()
        self._connect("connect")

    def on_stop(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def _join(self) -> str:
        page = self.client.get(f"/e/{self.code}", name="/e/[code]")
        match = CSRF.search(page.text)
        assert match, "join page without csrf field"
        response = self.client.post(
            f"/e/{self.code}/join",
            data={"name": f"Phone {random.randrange(10**6)}", "csrf": match.group(1)},
            headers={"origin": self.host},
            allow_redirects=False,
            name="/e/[code]/join",
        )
        token = response.cookies.get(f"ea_{self.code}")
        if response.status_code != 303 or not token:
            raise RuntimeError(f"join refused: {response.status_code}")
        return str(token)

    def _connect(self, name: str) -> None:
        started = time.perf_counter()
        self.welcomed = gevent.event.Event()
        try:
            host = str(self.host)
            self.sock = LiveSocket(_ws_url(host, self.code), host, self._on_message)
            self.sock.send({"type": "hello", "token": self.token})
            if not self.welcomed.wait(timeout=30):
                raise TimeoutError("no welcome")
        except Exception as exc:
            _fire(self, name, started, error=exc)
            self.sock = None
            return
        _fire(self, name, started)
        # Resend what the server has not confirmed, with the same seq: it counts once.
        for pitch_id, (score, seq, _sent) in list(self.pending.items()):
            self.pending[pitch_id] = (score, seq, time.perf_counter())
            self.sock.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": seq})

    # ---------------------------------------------------------------- messages

    def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "welcome":
            self.attendee_id = int(msg["attendee_id"])
            for pid, vote in (msg.get("my_votes") or {}).items():
                self._confirmed(int(pid), int(vote["score"]), int(vote["seq"]), fresh=False)
            self._on_state(msg["event"])
            self.welcomed.set()
        elif kind == "state":
            self._on_state(msg["event"])
        elif kind == "vote_ack":
            self._confirmed(int(msg["pitch_id"]), int(msg["score"]), int(msg["seq"]), fresh=True)
        elif kind == "error":
            self._on_error(msg)

    def _on_state(self, event: dict[str, Any]) -> None:
        self.open_pitch = next(
            (int(p["id"]) for p in event["pitches"] if p["state"] == "open"), None
        )
        pitch = self.open_pitch
        if pitch is not None and pitch not in self.mine and pitch not in self.pending:
            # People take a moment to decide once the card appears.
            gevent.spawn_later(random.uniform(0.2, 3.0), self._vote_if_open, pitch)

    def _confirmed(self, pitch_id: int, score: int, seq: int, *, fresh: bool) -> None:
        now = time.perf_counter()
        pending = self.pending.get(pitch_id)
        if pending is not None and pending[1] <= seq:
            del self.pending[pitch_id]
            if fresh:
                self.environment.events.request.fire(
                    request_type="WS",
                    name="vote ack",
                    response_time=(now - pending[2]) * 1000,
                    response_length=0,
                    exception=None,
                    context={},
                )
        known = self.mine.get(pitch_id)
        if known is None or known[1] <= seq:
            self.mine[pitch_id] = (score, seq)
            SHARED.acked[(self.attendee_id, pitch_id)] = (score, seq)
        self.seq = max(self.seq, seq)
        key = (self.attendee_id, pitch_id)
        if fresh and key not in SHARED.first_ackers:
            SHARED.first_ackers.add(key)
            SHARED.first_acks.setdefault(pitch_id, []).append(now)

    def _on_error(self, msg: dict[str, Any]) -> None:
        code = str(msg.get("code"))
        pitch_id = msg.get("pitch_id")
        if code == "voting_closed":
            # The moderator closed voting while this vote was on its way: a refusal the
            # phone shows, not a failure of the server.
            if isinstance(pitch_id, int):
                self.pending.pop(pitch_id, None)
            return
        if code == "not_saved":
            gevent.spawn_later(1.0, self._resend)
        self.environment.events.request.fire(
            request_type="WS",
            name=f"error {code}",
            response_time=0,
            response_length=0,
            exception=RuntimeError(str(msg.get("message"))),
            context={},
        )

    # ---------------------------------------------------------------- actions

    def _vote_if_open(self, pitch_id: int) -> None:
        if self.open_pitch == pitch_id and pitch_id not in self.mine:
            self._vote(pitch_id)

    def _vote(self, pitch_id: int) -> None:
        if self.sock is None or self.sock.closed:
            return
        self.seq += 1
        score = random.randint(1, 5)
        self.pending[pitch_id] = (score, self.seq, time.perf_counter())
        self.sock.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": self.seq})

    def _resend(self) -> None:
        if self.sock is None:
            return
        for pitch_id, (score, seq, _sent) in list(self.pending.items()):
            self.sock.send({"type": "vote", "pitch_id": pitch_id, "score": score, "seq": seq})

    @task(6)
    def listen(self) -> None:
        """Most of the time a phone just shows what the server sends."""
        if self.sock is None or self.sock.closed:
            self._connect("reconnect")

    @task(2)
    def change_vote(self) -> None:
        pitch = self.open_pitch
        if pitch is not None and pitch in self.mine and pitch not in self.pending:
            self._vote(pitch)

    @task(1)
    def drop_and_reconnect(self) -> None:
        """Lose the connection (a tunnel, a locked screen), sometimes with a vote in
        flight, and come back with the same device token."""
        if self.sock is None:
            return
        if self.open_pitch is not None and random.random() < 0.5:
            self._vote(self.open_pitch)
        gevent.sleep(random.uniform(0, 0.05))
        self.sock.close()
        self.sock = None
        gevent.sleep(random.uniform(0.1, 1.0))
        self._connect("reconnect")


class _Screen(User):
    abstract = True
    fixed_count = 1
    role = "projector"
    wait_time = between(1, 1)

    def on_start(self) -> None:
        assert EVENT is not None
        self.event = EVENT
        self.replies: Queue[dict[str, Any]] = Queue()
        started = time.perf_counter()
        key = self.event.moderator_key if self.role == "moderator" else self.event.projector_key
        host = str(self.host)
        self.sock = LiveSocket(_ws_url(host, self.event.code), host, self._on_message)
        self.sock.send({"type": "hello", "role": self.role, "key": key})
        welcome = self.replies.get(timeout=30)
        if welcome.get("type") != "welcome":
            _fire(self, f"connect {self.role}", started, error=RuntimeError(str(welcome)))
            raise RuntimeError(f"{self.role} hello refused: {welcome}")
        _fire(self, f"connect {self.role}", started)
        self.state: dict[str, Any] = welcome["event"]

    def on_stop(self) -> None:
        self.sock.close()

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "screen":
            self.on_screen(msg)
        elif msg["type"] == "state":
            self.state = msg["event"]
        elif msg["type"] in ("welcome", "command_ack", "error"):
            self.replies.put(msg)

    def on_screen(self, msg: dict[str, Any]) -> None:
        return None


class Projector(_Screen):
    role = "projector"

    def on_start(self) -> None:
        self.matched: dict[int, int] = {}
        super().on_start()

    def on_screen(self, msg: dict[str, Any]) -> None:
        now = time.perf_counter()
        current = msg.get("current") or {}
        pitch_id = current.get("pitch_id")
        if not isinstance(pitch_id, int):
            return
        summary = current.get("summary")
        if summary:
            SHARED.projector_last[pitch_id] = summary["distribution"]
        acks = SHARED.first_acks.get(pitch_id, [])
        shown = min(int(current.get("votes_in", 0)), len(acks))
        for k in range(self.matched.get(pitch_id, 0), shown):
            # A screen may overtake an ack (both leave the server at once): count 0 then.
            self.environment.events.request.fire(
                request_type="WS",
                name="vote→projector",
                response_time=max(0.0, now - acks[k]) * 1000,
                response_length=0,
                exception=None,
                context={},
            )
        self.matched[pitch_id] = max(shown, self.matched.get(pitch_id, 0))

    @task
    def watch(self) -> None:
        gevent.sleep(1)


class Moderator(_Screen):
    role = "moderator"

    def command(self, message: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        started = time.perf_counter()
        self.sock.send(message)
        try:
            reply = self.replies.get(timeout=timeout)
        except Empty:
            _fire(self, f"command {message['type']}", started, error=TimeoutError("no ack"))
            return {"type": "error", "code": "timeout"}
        ok = reply.get("type") == "command_ack"
        # "last pitch" is the end of the programme, not a failure: start again.
        expected = reply.get("code") in ("last_pitch", "not_open")
        _fire(
            self,
            f"command {message['type']}",
            started,
            error=None if ok or expected else RuntimeError(str(reply)),
        )
        return dict(reply)

    def on_start(self) -> None:
        super().on_start()
        gevent.sleep(WARMUP)

    @task
    def run_a_pitch(self) -> None:
        reply = self.command({"type": "next"})
        if reply.get("code") == "last_pitch":
            first = self.state["pitches"][0]["id"]
            self.command({"type": "goto", "pitch_id": first})
        self.command({"type": "open_voting"})
        gevent.sleep(VOTE_WINDOW)
        self.command({"type": "close_voting"})
        gevent.sleep(CLOSED_PAUSE)

    def on_stop(self) -> None:
        # Leave the hall closed, so the last votes settle before anyone counts them.
        if any(p["state"] == "open" for p in self.state["pitches"]):
            self.command({"type": "close_voting"}, timeout=3)
        super().on_stop()


# ------------------------------------------------------------------ verdict on quit


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _check_thresholds(environment: Environment, **_kw: Any) -> None:
    stats = environment.stats
    limits = {
        "vote ack": float(os.environ.get("LOAD_ACK_P99_MS", "250")),
        "vote→projector": float(os.environ.get("LOAD_V2P_P99_MS", "500")),
    }
    problems = []
    if stats.total.num_failures:
        problems.append(f"{stats.total.num_failures} failures")
    for name, limit in limits.items():
        entry = stats.get(name, "WS")
        if entry.num_requests == 0:
            problems.append(f"no '{name}' samples")
            continue
        p99 = entry.get_response_time_percentile(0.99)
        if p99 > limit:
            problems.append(f"'{name}' p99 {p99:.0f} ms > {limit:.0f} ms")
    summary_path = os.environ.get("LOAD_SUMMARY")
    if summary_path:
        with open(summary_path, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "acked": [[a, p, s, q] for (a, p), (s, q) in SHARED.acked.items()],
                    "projector_last": SHARED.projector_last,
                    "problems": problems,
                },
                handle,
            )
    if problems:
        print("THRESHOLDS FAILED: " + "; ".join(problems), flush=True)
        environment.process_exit_code = 1
    else:
        print("thresholds met", flush=True)
