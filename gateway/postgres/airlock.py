"""The airlock: a held statement waits for its review without blocking other sessions.

The session opens a review, tells the client with a NoticeResponse (review id, where the card
went, how long it waits), and waits for the first of: the decision (``review.decided`` on the
bus, or the deadline: expired), a CancelRequest for this session (the review is cancelled), or
the client going away (cancelled too). Approved → the caller forwards the statement; otherwise
the caller refuses it with the ErrorResponse returned here: 42501 naming the approver and their
reason, or 57014 for a cancel or a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from approvals import ApprovalError, Review, ReviewState
from approvals.policy import human_duration
from gateway.guardrails import Verdict
from gateway.postgres import wire as pg
from gateway.postgres.context import Deps, Shared, refusal_error

__all__ = ["ClientGone", "hold"]

# While a statement is held the client may send more (pipelined) messages: the relay buffers
# them, up to this many bytes, and processes them after the decision.
HOLD_BUFFER_LIMIT = 16 * 1024 * 1024


class ClientGone(Exception):
    """The client closed its connection while a statement was held."""


async def hold(
    s: Shared,
    deps: Deps,
    left: asyncio.Event,
    text: str,
    verdict: Verdict,
    params: tuple[bytes | None, ...],
) -> tuple[str, pg.ErrorResponse | None]:
    """Hold a statement for review; returns the review id and, unless approved, the error.

    ``left`` is set when the client closes its connection: the review is cancelled and
    ClientGone raised. So is the review when the session ends meanwhile (this is cancelled).
    """
    shown = text if not params else f"{text}\n-- parameters: {_params(params)}"
    # A CancelRequest that arrives while the review is being opened must not be lost.
    s.cancel_hold.clear()
    s.holding = ""
    try:
        review = await deps.service.hold_statement(
            s.identity, s.target.name, shown, risk=verdict.risk, rule=verdict.rule, session_id=s.id
        )
        s.holding = review.id
        s.held += 1
        conn = deps.service.connection(s.target.name)
        where = conn.approvers.channel or "the approvers"
        notice = pg.NoticeResponse.build(
            "NOTICE",
            "01000",
            f"held for approval: review {review.id} posted to {where}, waiting up to "
            f"{human_duration(conn.review_timeout)} ({verdict.reason})",
        )
        s.client.write(pg.encode(notice))
        final, why = await _wait(s, deps, review.id, left)
    finally:
        s.holding = None
    deps.metrics.hold_seconds.observe(
        (deps.service.clock.now() - review.created_at).total_seconds()
    )
    if why == "gone":
        raise ClientGone
    return review.id, _outcome(review.id, final, conn.review_timeout)


def _outcome(review_id: str, final: Review | None, timeout: timedelta) -> pg.ErrorResponse | None:
    if final is None:
        return refusal_error("57014", "canceling statement due to user request")
    if final.state is ReviewState.APPROVED:
        return None
    if final.state is ReviewState.DENIED:
        deciding = final.deciding
        who = deciding.approver.subject if deciding else "an approver"
        reason = deciding.reason if deciding and deciding.reason else "no reason given"
        return refusal_error("42501", f"denied by {who}: {reason}", detail=f"review {review_id}")
    if final.state is ReviewState.CANCELLED:
        return refusal_error("57014", "canceling statement due to user request")
    return refusal_error(
        "57014",
        f"review {review_id} was {final.state.value}: "
        f"nobody decided within {human_duration(timeout)}",
    )


async def _wait(
    s: Shared, deps: Deps, review_id: str, left: asyncio.Event
) -> tuple[Review | None, str]:
    """Wait for the decision, a cancel or the client leaving; returns (final review, why)."""
    decision = asyncio.create_task(deps.service.await_decision(review_id))
    gone = asyncio.create_task(left.wait())
    cancel = asyncio.create_task(s.cancel_hold.wait())
    tasks = (decision, gone, cancel)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the session ended (revoked, shut down, protocol error)
        with contextlib.suppress(ApprovalError):
            await asyncio.shield(deps.service.cancel(review_id, s.identity))
        raise
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if decision.done() and not decision.cancelled():
        return decision.result(), "decided"
    client_left = gone.done() and not gone.cancelled()
    final: Review | None = None
    with contextlib.suppress(ApprovalError):
        final = await deps.service.cancel(review_id, s.identity)
    if final is None:  # decided meanwhile: the cancel lost the race
        final = await deps.service.await_decision(review_id)
    return (None, "gone") if client_left else (final, "decided")


def _params(params: tuple[bytes | None, ...]) -> str:
    shown = []
    for value in params[:20]:
        if value is None:
            shown.append("NULL")
        else:
            shown.append(repr(value[:200].decode("utf-8", "replace")))
    return ", ".join(shown) + (" …" if len(params) > 20 else "")
