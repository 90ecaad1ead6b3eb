"""The port a connection type plugs into the MCP server: a ``Runner`` per type (PostgreSQL
today; MySQL adds one beside it), wired in by the composition root, so that the MCP package
imports no protocol package (import-linter holds it to that).

A runner gives the tools the connection's own dialect: what its rules are in one line, how a
text is redacted, how it is classified (fail closed: what it cannot classify is held), and how
it runs upstream with the connection's credential, its result masked as the database listener
masks it. It never decides a hold itself: the MCP server does that with the session core.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from approvals import Impact
from gateway.guardrails import Redactor, Verdict
from gateway.sessions import Session

__all__ = ["Opened", "Result", "Runner"]


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement gave back, masked: its columns and rows as text (NULL: None), the
    command tag, how many rows it returned or touched, whether the rows shown were cut
    (``truncated``), the bytes read, the masking tally (rule or detector -> values), and the
    database's error (code, message with what the masking hides redacted) when it failed."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str | None, ...], ...] = ()
    command: str = ""
    row_count: int = 0
    truncated: bool = False
    size: int = 0
    masked: Mapping[str, int] = field(default_factory=dict)
    error: tuple[str, str] | None = None


class Opened(Protocol):
    """One call's connection upstream, open for the statement of the call."""

    async def classify(
        self, text: str, params: Sequence[bytes | None]
    ) -> tuple[Verdict, Impact | None]:
        """The verdict for ``text`` bound to ``params`` (the connection's guardrails, its
        masking's refusals, and its row limit on writes, counted), with what a held write
        would touch when the dialect counts it; never raises: what it cannot classify is
        held."""
        ...

    async def execute(
        self, text: str, params: Sequence[bytes | None], *, max_rows: int, max_bytes: int
    ) -> Result:
        """Run it upstream (raises RunnerFailed when the connection fails); rows past
        ``max_rows`` or ``max_bytes`` are read and counted but not returned."""
        ...


class Runner(Protocol):
    """The connections of one type, as the MCP server uses them."""

    def serves(self, connection: str) -> bool: ...

    def roles(self, connection: str) -> Collection[str]:
        """The roles the connection defines (a delegation for another one is refused)."""
        ...

    def redactor(self, connection: str) -> Redactor:
        """The dialect's redaction: what a text may be shown and stored as."""
        ...

    def rules(self, connection: str) -> str:
        """The connection's rules in one line, for ``list_connections``."""
        ...

    def open(self, session: Session) -> AbstractAsyncContextManager[Opened]:
        """Connect upstream for ``session`` (its connection, as its delegation's role); raises
        RunnerFailed when it cannot."""
        ...
