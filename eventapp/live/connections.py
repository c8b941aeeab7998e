"""What the hub holds per socket and per event (plain data; the hub and its helpers act)."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventapp.enums import Role
from eventapp.live.outbox import Outbox
from eventapp.voting.queries import EventState


@dataclass(eq=False)
class Connection:
    """One socket, as the hub sees it: who it is and where its messages go."""

    role: Role
    outbox: Outbox
    attendee_id: int | None = None
    key: str | None = None  # screens: the link key they joined with (rotation closes them)
    # Projectors: True for the conference-wide leaderboard view (several stages).
    conference: bool = False

    @property
    def kind(self) -> tuple[Role, bool]:
        """Screens of one kind get the same ``screen`` text."""
        return (self.role, self.conference)


@dataclass(eq=False)
class LiveEvent:
    state: EventState
    # Phones by attendee: a direct message to one attendee is one lookup, not a scan.
    by_attendee: dict[int, set[Connection]] = field(default_factory=dict)
    screens: set[Connection] = field(default_factory=set)
    dirty: bool = True  # screens need a fresh update
    needs_rebuild: bool = False
    ready: bool = False  # its first attach built the tallies: later ones need no lock
    connected: int = 0  # distinct attendees across all processes
    last_screen: dict[tuple[Role, bool], str] = field(default_factory=dict)
    # SQL's per-pitch (count, sum) at the last check that disagreed with the tallies.
    mismatch: dict[int, tuple[int, int]] | None = None

    def add(self, conn: Connection) -> None:
        if conn.attendee_id is None:
            self.screens.add(conn)
        else:
            self.by_attendee.setdefault(conn.attendee_id, set()).add(conn)

    def discard(self, conn: Connection) -> None:
        if conn.attendee_id is None:
            self.screens.discard(conn)
            return
        sockets = self.by_attendee.get(conn.attendee_id)
        if sockets is not None:
            sockets.discard(conn)
            if not sockets:
                del self.by_attendee[conn.attendee_id]

    @property
    def phones(self) -> list[Connection]:
        """Every phone socket (a new list: loops over all phones are per tick, not per
        message)."""
        return [conn for sockets in self.by_attendee.values() for conn in sockets]

    @property
    def phone_count(self) -> int:
        return sum(len(sockets) for sockets in self.by_attendee.values())

    def is_empty(self) -> bool:
        return not self.by_attendee and not self.screens
