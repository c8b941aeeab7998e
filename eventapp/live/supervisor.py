"""The app's background loops, in one group of tasks owned by the lifespan.

Each loop (screen updates, presence and reconcile, the vote writer, the GC policy) runs
under ``Supervisor.run``: if it raises, the crash is logged with its traceback, an
``on_crash`` hook cleans up what the loop held (the vote writer fails its batch so phones
resend), and the loop starts again after a short, growing pause. Nothing a loop does can
leave the app silently without it. ``stop`` cancels them all and waits a bounded time.

Not ``asyncio.TaskGroup``: its exit waits for every task without a limit, and a task stuck
in a client library that does not honour cancellation at once (seen with a Redis pool
under a dying server) would hang the shutdown. Here such a task is logged and left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger(__name__)

Loop = Callable[[], Awaitable[None]]
RESTART_FIRST = 0.1  # seconds before the first restart; doubles up to RESTART_MAX
RESTART_MAX = 5.0
HEALTHY_RUN = 60.0


class Supervisor:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self.restarts: dict[str, int] = {}

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def run(
        self, name: str, loop: Loop, *, on_crash: Callable[[BaseException], None] | None = None
    ) -> None:
        self.restarts[name] = 0
        self._tasks.append(asyncio.create_task(self._keep(name, loop, on_crash), name=name))

    async def _keep(
        self, name: str, loop: Loop, on_crash: Callable[[BaseException], None] | None
    ) -> None:
        pause = RESTART_FIRST
        while True:
            started = time.monotonic()
            try:
                await loop()
                log.warning("background loop %s returned; starting it again", name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("background loop %s crashed; restarting in %.1f s", name, pause)
                if on_crash is not None:
                    try:
                        on_crash(exc)
                    except Exception:
                        log.exception("clean-up after %s crashed failed", name)
            self.restarts[name] += 1
            if time.monotonic() - started > HEALTHY_RUN:
                pause = RESTART_FIRST  # a crash after a long healthy run is not a crash loop
            await asyncio.sleep(pause)
            pause = min(pause * 2, RESTART_MAX)

    async def stop(self, timeout: float = 5.0) -> None:
        """Cancel every loop; wait at most ``timeout`` seconds for them to end."""
        for task in self._tasks:
            task.cancel()
        pending: set[asyncio.Task[None]] = set()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                log.warning("background loop %s did not stop in %.0f s", task.get_name(), timeout)
        self._tasks = list(pending)  # a later stop tries them again


async def closed_within(what: str, close: Awaitable[None], timeout: float = 5.0) -> None:
    """Close a resource without letting a dead server hang shutdown."""
    try:
        await asyncio.wait_for(close, timeout)
    except TimeoutError:
        log.warning("closing %s took longer than %.0f s; gave up", what, timeout)
    except Exception:
        log.warning("closing %s failed", what, exc_info=True)
