"""The prepared-statement namespace as the server will see it, so a Bind runs what was judged.

The gateway forwards a Parse whose statement needs review (the hold happens at Execute, with
the Bind values), so the server may hold a statement that must not run unreviewed. What a name
means is therefore taken from the server's answers, never from what the client sent last:

- A Parse or Close('S') is *in flight* until the server answers it. ParseComplete commits the
  definition, CloseComplete removes it; a failed Parse leaves a named statement as it was (the
  server refuses to redefine a name) and drops the unnamed one (the server does that before
  parsing); a skipped one (sent after an error, before Sync) changes nothing.
- A Bind is judged against the definitions it can reach: the latest in-flight operation on the
  name if it is in the Bind's own batch (had it failed, the server would skip the Bind), else
  every in-flight definition back to the committed one, since any of them may be the one that
  took. Several different texts where one needs review: the Bind is refused (a client that
  waits for its answers, as drivers do, never meets this).
- SQL PREPARE / DEALLOCATE / DISCARD ALL share the namespace (applied once they succeeded).

Pure state, no I/O.
"""

from __future__ import annotations

from typing import Final

from gateway.postgres.tracker import Definition, Expect, Pending

__all__ = ["AMBIGUOUS", "Ambiguous", "StatementBook"]


class Ambiguous:
    """Several definitions with different texts may answer a Bind, and one needs review."""


AMBIGUOUS: Final = Ambiguous()


class StatementBook:
    def __init__(self) -> None:
        self.committed: dict[str, Definition] = {}
        self.inflight: dict[str, list[Pending]] = {}
        self.batch = 0  # Syncs the client has sent

    def parsing(self, op: Pending) -> None:
        """A Parse (``op.definition`` set) or Close('S') (``op.closes``) is being forwarded."""
        op.batch = self.batch
        self.inflight.setdefault(op.name, []).append(op)

    def synced(self, count: int = 1) -> None:
        """The client sent ``count`` more Syncs."""
        self.batch += count

    def lookup(self, name: str) -> Definition | Ambiguous | None:
        """What a Bind of ``name`` sent now can run (None: nothing, the server will refuse)."""
        ops = self.inflight.get(name)
        if not ops:  # the common cases first: nothing in flight, or a Parse in this batch
            return self.committed.get(name)
        if ops[-1].batch == self.batch:
            return ops[-1].definition
        candidates: list[Definition] = []
        for op in reversed(ops):
            if op.definition is not None:
                candidates.append(op.definition)
            if op.batch == self.batch:
                break
        else:
            committed = self.committed.get(name)
            if committed is not None:
                candidates.append(committed)
        if not candidates:
            return None
        first = candidates[0]
        if all(c.text == first.text for c in candidates):
            return first
        if all(c.verdict == "allow" for c in candidates):
            return first
        return AMBIGUOUS

    def resolved(self, op: Pending, outcome: str) -> tuple[str, Definition | None] | None:
        """The server answered (``ok``), refused (``failed``) or skipped an operation in flight.
        Returns (name, definition or None) when a named statement appeared or went away."""
        ops = self.inflight.get(op.name)
        if ops is None or op not in ops:
            return None
        ops.remove(op)
        if not ops:
            del self.inflight[op.name]
        if op.expect is Expect.PARSE and op.definition is not None:
            if outcome == "ok":
                self.committed[op.name] = op.definition
                return (op.name, op.definition) if op.name else None
            if outcome == "failed" and not op.name:
                self.committed.pop("", None)
        elif op.closes and outcome == "ok":
            removed = self.committed.pop(op.name, None)
            if removed is not None and op.name:
                return op.name, None
        return None

    def prepared(self, name: str, definition: Definition) -> None:
        """SQL PREPARE succeeded."""
        self.committed[name] = definition

    def deallocated(self, name: str | None) -> None:
        """SQL DEALLOCATE (None: ALL) or DISCARD ALL succeeded."""
        if name is None:
            self.committed.clear()
        else:
            self.committed.pop(name, None)
