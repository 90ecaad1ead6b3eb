"""The errors a PostgreSQL session answers with when the gateway refuses a statement.

Each names the rule that refused it (the audit records the same name) and carries the SQLSTATE
the client sees (ARCHITECTURE.md "Errors"): 42501 for a block, a denial or a route around the
masking, 57014 for a cancelled or expired hold, 22021 for text that is not UTF-8, 53000 when the
gateway cannot record what it would forward (the audit trail behind, the journal unwritable) or
the store cannot open the review a held statement needs, 53100 (disk_full) when that is because
the store's disk is full. A session the store cannot record is refused at its start with FATAL
57P03 (gateway.postgres.listener).
"""

from __future__ import annotations

from gateway.guardrails import Verdict
from gateway.postgres import wire as pg
from gateway.postgres.context import Shared, refusal_error
from gateway.postgres.dialect.leaks import Leaks
from gateway.sessions import STORE_RULE, Held, HoldOutcome

__all__ = [
    "BACKLOG",
    "JOURNAL",
    "UTF8",
    "audit_behind",
    "blocked",
    "held_error",
    "held_refusal",
    "masking_refusal",
    "not_utf8",
    "unjournaled",
]

UTF8 = "protocol/utf8"  # the rule named for statements whose text is not UTF-8
BACKLOG = "audit/backlog"  # the rule named for statements refused while the audit is behind
JOURNAL = "audit/journal"  # the rule named for statements refused when they cannot be journaled


def held_error(held: Held) -> pg.ErrorResponse | None:
    """A denial is 42501 with the approver's reason; a cancel or a timeout 57014; a review the
    store could not open 53100 when its disk is full, else 53000."""
    if held.approved:
        return None
    if held.outcome is HoldOutcome.UNAVAILABLE:
        sqlstate = "53100" if held.reason == "disk full" else "53000"
    else:
        sqlstate = "42501" if held.outcome is HoldOutcome.DENIED else "57014"
    return refusal_error(sqlstate, held.message, detail=held.detail)


def held_refusal(held: Held, verdict: Verdict) -> tuple[pg.ErrorResponse, str, str | None] | None:
    """How a held statement that may not run is refused and recorded: (its error, the outcome,
    the rule). A decided, cancelled or expired review is "denied" by the verdict's rule; one the
    store could not open is the gateway's "block" by rule audit/store. None: it runs."""
    error = held_error(held)
    if error is None:
        return None
    if held.outcome is HoldOutcome.UNAVAILABLE:
        return error, "block", STORE_RULE
    return error, "denied", verdict.rule


def not_utf8(message: str) -> pg.ErrorResponse:
    """Statement text that is not UTF-8 (the client_encoding the gateway pins) is refused as the
    server would refuse it; the gateway never classifies bytes it cannot read as text."""
    return refusal_error("22021", message)


def audit_behind() -> pg.ErrorResponse:
    """Nothing runs unrecorded: while the audit trail cannot keep up, statements are refused."""
    return refusal_error(
        "53000",
        "refused: the audit trail is behind (its store is slow or unreachable) and nothing runs "
        "unrecorded (rule audit/backlog); try again shortly",
    )


def unjournaled(s: Shared) -> pg.ErrorResponse:
    """Nothing is forwarded unrecorded: a statement the journal cannot take is refused."""
    assert s.log is not None
    journal = s.log.journal
    why = (journal.problem if journal is not None else None) or "it is unavailable"
    return refusal_error(
        "53000",
        f"refused: the gateway cannot record statements in its journal ({why}) and nothing "
        "runs unrecorded (rule audit/journal); try again shortly",
    )


def blocked(verdict: Verdict) -> pg.ErrorResponse:
    return refusal_error(
        "42501",
        f"blocked by rule {verdict.rule}: {verdict.reason}",
        detail="Airlock blocks this class of statement on this connection",
    )


def masking_refusal(s: Shared, text: str) -> tuple[str, pg.ErrorResponse] | None:
    """On a connection that masks, a statement that takes a route around the masked result set
    (gateway.postgres.dialect.leaks) is refused: (the rule, the client's error)."""
    policy = s.target.masking
    if policy is None:
        return None
    leaks = s.leaks
    if leaks is None:
        leaks = s.leaks = Leaks(policy, s.catalog)
    leak = leaks.of(text)
    if leak is None:
        return None
    name = s.target.name
    if leak.rule == "masking/copy-out":
        message = (
            f"COPY TO STDOUT is refused on {name}: its results are masked and COPY output "
            "cannot be (rule masking/copy-out); use SELECT instead"
        )
    else:
        message = f"blocked by rule {leak.rule}: {leak.reason}"
    detail = f"{name} masks its results: a masked value may leave only as a masked column"
    return leak.rule, refusal_error("42501", message, detail=detail)
