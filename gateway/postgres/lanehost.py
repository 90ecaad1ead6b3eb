"""Everything the compiled fast lane reads and calls of a session, as one object: ``LaneHost``.

``gateway/postgres/_lane.c`` knows no Python name but the members of ``LaneHost`` (read once,
when a ``Core`` is made) and the fields of the Protocols below (read while the session runs, of
the objects the host hands over). ``host_for`` is the one place that finds those objects in a
session, so moving Python code, or renaming a method or object the lane uses, means updating
this module only. Renaming a field a view declares means renaming it in the view and in the C
file's NAMES: mypy checks that the session's real classes satisfy the Protocols where
``host_for`` builds the host, and ``tests/gateway/postgres/test_compiled_lane.py`` holds the
names the C file reads equal to the views' (``FIELDS``), so a rename fails ``make check``, not
a session at run time.

The Protocols are read-only views (properties): the lane changes nothing of the session but
through the host's callables. One of them, ``journal``, is called before every request the
lane forwards: the session core records the statement first (gateway.sessions.journal). Who
changes each field is said beside it; ``ready`` in _lane.c says which of them it reads before
every request and which only until it found them idle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.postgres.dialect import RowPlan
from gateway.postgres.lifecycle import SessionPhase
from gateway.postgres.tracker import Definition

if TYPE_CHECKING:
    from gateway.postgres.client_side import ClientSide
    from gateway.postgres.relay import Relay
    from gateway.postgres.server_side import ServerSide

__all__ = [
    "FIELDS",
    "AuditView",
    "BookView",
    "ClientView",
    "Columns",
    "LaneHost",
    "Learned",
    "PortalTaken",
    "ReaderView",
    "SessionView",
    "StateView",
    "TrackerView",
    "host_for",
]

# What ``learn`` returns: (verdict, rule) when a Query text is the lane's kind, else None; and
# whether no literal influenced it (lane.judge).
Learned = tuple[tuple[str, str | None] | None, bool]
# The records ``drained`` gets, column by column (one entry per request the lane completed):
# at (time.monotonic), text, verdict, rule, rows, size (DataRow bytes), duration_us.
Columns = tuple[
    list[float], list[str], list[str], list[str | None], list[int], list[int], list[int]
]
# The unnamed portal the last prepared statement the lane ran left: (definition, plan,
# described), as lane.Lane.finish sets it.
PortalTaken = tuple[Definition, RowPlan | None, bool]


class ClientView(Protocol):
    """``ClientSide``."""

    @property
    def swallow(self) -> bool:
        """A refused extended batch is being dropped up to Sync (the general path's)."""


class AuditView(Protocol):
    """``AuditWriter``: read before every request (the writer's task changes it)."""

    @property
    def behind(self) -> bool:
        """The audit trail is behind: statements are refused (the general path's)."""


class StateView(Protocol):
    """``SessionState`` (frozen: a change is a new object on the session)."""

    @property
    def in_transaction(self) -> bool:
        """What the last ReadyForQuery said (the server side)."""


class SessionView(Protocol):
    """``Shared``."""

    @property
    def phase(self) -> SessionPhase:
        """The session's lifecycle (postgres.lifecycle: the relay moves it, and the client
        side at a Terminate); the lane compares it with ``relaying`` before every request and
        with ``closed`` before every answer."""

    @property
    def state(self) -> StateView:
        """The session state, replaced by the general path; verdicts the lane remembers are
        forgotten when it is another object. Read per request."""

    @property
    def holding(self) -> str | None:
        """The review id of a held statement (gateway.sessions.hold); the general path's."""


class TrackerView(Protocol):
    """``ResponseTracker``: the general path's."""

    @property
    def queue(self) -> Sized:
        """Requests forwarded and not answered yet."""

    @property
    def finished(self) -> Sized:
        """Statements answered and not audited yet."""


class BookView(Protocol):
    """``StatementBook``: the general path's."""

    @property
    def inflight(self) -> Mapping[str, object]:
        """Parses and Closes of statements not answered yet, by name."""

    @property
    def committed(self) -> dict[str, Definition]:
        """Prepared statements by name (a dict: the lane looks a Bind's name up in it). The lane
        reads ``text``, ``verdict``, ``rule``, ``effects``, ``derived`` of a Definition."""


class ReaderView(Protocol):
    """A parser's ``Reader``: its pending_bytes() is 0 exactly when ``_chunks_len == 0`` and
    ``_pos == len(_buf)``, which the lane reads without calling it (pgwire/framing.py says so
    beside them). The general path's."""

    @property
    def _buf(self) -> bytes: ...

    @property
    def _pos(self) -> int: ...

    @property
    def _chunks_len(self) -> int: ...


_VIEWS = (ClientView, AuditView, StateView, SessionView, TrackerView, BookView, ReaderView)
# The fields the C core reads, by the name of the view (or class) that has them: each view's
# properties, and what it reads of a prepared statement's Definition and of a RowPlan.
FIELDS: dict[str, tuple[str, ...]] = {
    **{
        view.__name__: tuple(name for name, v in vars(view).items() if isinstance(v, property))
        for view in _VIEWS
    },
    "Definition": ("text", "verdict", "rule", "effects", "derived"),
    "RowPlan": ("is_noop",),
}


@dataclass(frozen=True, slots=True)
class LaneHost:
    """One session as the compiled lane sees it. The core reads every member once, when it is
    made; the objects among them it reads fields of while the session runs (the views above),
    the callables it calls. Nothing here changes afterwards."""

    client: ClientView
    audit: AuditView
    session: SessionView
    tracker: TrackerView
    book: BookView
    client_reader: ReaderView
    server_reader: ReaderView
    to_server: Callable[[bytes], object]  # the upstream transport's write
    to_client: Callable[[bytes], object]  # the client transport's write
    client_general: Callable[[bytes], None]  # the general path for a client read
    server_general: Callable[[bytes], None]  # the general path for a server read
    learn: Callable[[str], Learned]  # the verdict of a Query text not seen in this state
    # the accounting of the requests completed since the last drain: (columns, answered bytes,
    # the portal or None, Syncs the statement book missed)
    drained: Callable[[Columns, int, PortalTaken | None, int], None]
    schedule: Callable[[], None]  # a batch's first record: drain within fastlane.DRAIN_S
    replay: Callable[[bytes, float], None]  # spill: the general path accounts for a request
    plan_of: Callable[[bytes], RowPlan | None]  # the row plan of a RowDescription
    stop: Callable[[str, BaseException | None], None]  # end the session: (side, exception)
    # The session's statement journal (the core's ``StatementLog.forwarding``): a taken
    # request's statement text is recorded before it is forwarded; False: it is not, and the
    # lane lets the request go to the general path, which refuses it.
    journal: Callable[[str], bool]
    relaying: SessionPhase  # the phase in which the lane may take a request
    closed: SessionPhase  # the phase in which nothing more is processed
    client_bind_limit: int  # the client parser's length cap for a Bind
    server_limits: Sequence[int]  # the server parser's length caps, by type byte (256)
    masks: bool  # the connection masks results


def host_for(
    relay: Relay,
    client: ClientSide,
    server: ServerSide,
    *,
    to_server: Callable[[bytes], object],
    to_client: Callable[[bytes], object],
    learn: Callable[[str], Learned],
    drained: Callable[[Columns, int, PortalTaken | None, int], None],
    schedule: Callable[[], None],
) -> LaneHost:
    """The host of one session: where each thing the lane needs lives today."""
    s = client.s
    assert s.log is not None  # the listener sets it before the relay starts
    return LaneHost(
        client=client,
        audit=client.deps.core.audit,
        session=s,
        tracker=s.tracker,
        book=s.book,
        client_reader=client.parser,
        server_reader=server.parser,
        to_server=to_server,
        to_client=to_client,
        client_general=relay.client_general,
        server_general=relay.server_general,
        learn=learn,
        drained=drained,
        schedule=schedule,
        replay=client.replay,
        plan_of=server.plan_of,
        stop=relay.stop,
        journal=s.log.forwarding,
        relaying=SessionPhase.RELAYING,
        closed=SessionPhase.CLOSED,
        client_bind_limit=client.parser.limits[ord("B")],
        server_limits=server.parser.limits,
        masks=server.text_mask is not None,
    )
