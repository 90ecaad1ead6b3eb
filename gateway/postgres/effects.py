"""Session-state effects, applied once the statements that cause them have run.

SET/RESET of tracked settings, SQL PREPARE/DEALLOCATE/DISCARD and protocol-level named
statements change how later statements are classified (``SessionState``) and what a statement
name means (``StatementBook``). They are applied when the server has answered, never when the
client sent them: a statement that failed or was skipped changes nothing (``PREPARE s`` over an
existing ``s`` fails and must not make ``EXECUTE s`` look like the new text). While such a
statement is in flight the client side waits for it, so what follows is classified in the state
it will run in (gateway.postgres.dialect: "re-classify what follows once it has run").

The server undoes a SET that a transaction rolls back (ROLLBACK, ROLLBACK TO SAVEPOINT, an error
in a multi-statement Query or before an extended batch's Sync). The gateway sees no such undo, so
it never believes a change that *relaxes* what verdicts depend on (a search_path that puts
pg_catalog first where the one before did not, standard_conforming_strings turned on) unless the
change surely lasts: a simple Query with no transaction control that succeeded and left the
session outside a transaction. Otherwise it keeps the stricter value, which the server's value
can only be as strict as or looser than; a change that tightens is believed at once (if the
server undoes it, the gateway is merely stricter than it needs to be).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from gateway.guardrails import Classification, Kind
from gateway.postgres.context import Shared
from gateway.postgres.dialect import SessionState, classify
from gateway.postgres.tracker import Definition, Expect, Pending

__all__ = ["EFFECT_KINDS", "after_statement", "has_effects", "named_statement", "stricter"]

# Kinds whose statements may carry effects (classified again to find out).
EFFECT_KINDS = frozenset({Kind.CONFIG, Kind.SESSION, Kind.PRIVILEGE})


def has_effects(classification: Classification) -> bool:
    return any(statement.effects for statement in classification.statements)


def after_statement(
    s: Shared, classification: Classification
) -> tuple[Callable[[Pending], None], asyncio.Event]:
    """A callback for the statement's Pending that applies what ran, and an event it sets."""
    done = asyncio.Event()

    def finished(pending: Pending) -> None:
        ran = len(pending.tags) if pending.error else len(classification.statements)
        try:
            before = s.state
            _apply(s, classification, ran)
            if not _lasts(s, classification, pending):
                s.state = stricter(before, s.state)
        finally:
            done.set()

    return finished, done


def _apply(s: Shared, classification: Classification, ran: int) -> None:
    state = s.state
    for statement in classification.statements[:ran]:
        state = state.apply_statement(statement)
        for effect in statement.effects:
            if effect.op == "prepare" and effect.name and effect.prepared is not None:
                verdict = s.target.guardrails.judge(effect.prepared)
                # Bound later through the protocol, its rows carry what PREPARE's query outputs.
                derived = s.lineage.of(statement.text) if s.lineage is not None else None
                s.book.prepared(
                    effect.name,
                    Definition(
                        statement.text,
                        verdict.action.value,
                        verdict.rule,
                        bool(verdict.kinds & EFFECT_KINDS),
                        derived,
                    ),
                )
            elif effect.op == "deallocate":
                s.book.deallocated(effect.name)
            elif effect.op == "discard_all":
                s.book.deallocated(None)
    s.state = state


def _lasts(s: Shared, classification: Classification, pending: Pending) -> bool:
    """Whether what the statements changed surely outlives their transaction. Called once the
    server answered; for a Query that is after its ReadyForQuery (``state.in_transaction``)."""
    return (
        pending.expect is Expect.QUERY
        and pending.error is None
        and not s.state.in_transaction
        and not any(Kind.TRANSACTION in st.kinds for st in classification.statements)
    )


def stricter(before: SessionState, after: SessionState) -> SessionState:
    """``after``, but with what verdicts depend on no looser than in ``before``."""
    keep_path = after.catalog_first and not before.catalog_first
    keep_scs = after.standard_conforming_strings and not before.standard_conforming_strings
    if not (keep_path or keep_scs):
        return after
    return replace(
        after,
        search_path=before.search_path if keep_path else after.search_path,
        standard_conforming_strings=False if keep_scs else after.standard_conforming_strings,
    )


def named_statement(s: Shared, change: tuple[str, Definition | None] | None) -> None:
    """A protocol-level named statement appeared or went away: SQL ``EXECUTE name`` sees it."""
    if change is None:
        return
    name, definition = change
    if definition is None:
        s.state = s.state.without_prepared(name)
    else:
        s.state = s.state.with_prepared(name, classify(definition.text, s.state))
