"""The airlock: a held command waits for its review without blocking other sessions.

The session opens a review, tells the client (``notify``: a PostgreSQL NoticeResponse, an SSH
stderr line, ...) the review id, where the card went and how long it waits, and waits for the
first of: the decision (``review.decided`` on the bus, or the deadline: expired; a sealed event
is taken at its word, so the approval is not read back from the store, see
``ApprovalService.await_ending``), a cancel from
the client for this session (``Session.cancel_hold``: the review is cancelled), or the client
going away (``left``: cancelled too). It returns :class:`Held`; approved → the listener runs the
command, otherwise it refuses it in its protocol's words for :class:`HoldOutcome`: PostgreSQL
42501 naming the approver and their reason, 57014 for a cancel or a timeout.

A store that cannot open the review (full, read-only, unreachable: ``store.Unavailable``) ends
the hold at once as UNAVAILABLE, ``reason`` saying why ("disk full", ...): the command is
refused and the session goes on (PostgreSQL 53100 for a full disk, else 53000); the listener's
statement log records the refusal, written once the store is back. A cancel the store cannot
record ends the wait as cancelled all the same (the review, never decided, expires). A store
that stops answering while the command waits is asked again every ``STORE_RETRY_S`` (a decision
taken meanwhile is read when it answers); past the review's deadline and ``STORE_GRACE``, when
no approval can come any more, the command is refused as UNAVAILABLE too.

What the review shows and stores (its statement, the card, the ``statement.held`` audit event)
is the dialect's redaction (``redact``): secrets in the text and bound values in secret
positions replaced. The listener keeps the exact bytes in memory and runs exactly those after
an approval; the review binds to them by ``statement_sha256`` (:func:`held_sha256`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from approvals import ApprovalError, ApprovalService, Impact, Review, ReviewEnding, ReviewState
from approvals.policy import human_duration
from gateway.guardrails import Redactor, Verdict
from gateway.metrics import Metrics
from gateway.sessions.session import Ending, Session
from store import StoreHealth, Unavailable

__all__ = [
    "HOLD_BUFFER_LIMIT",
    "STORE_RULE",
    "ClientGone",
    "Held",
    "HoldOutcome",
    "held_sha256",
    "hold",
]

# While a command is held the client may send more (pipelined) messages: a listener buffers
# them, up to this many bytes, and processes them after the decision.
HOLD_BUFFER_LIMIT = 16 * 1024 * 1024
CANCELLED_MESSAGE = "canceling statement due to user request"
# The reason a held review is cancelled with (on its card) when the gateway ends its session.
ENDED = {
    Ending.REVOKED: "the requester's access was revoked; the statement never ran",
    Ending.EXPIRED: "the requester's access expired; the statement never ran",
    Ending.SHUTDOWN: "the gateway holding it shut down; the statement never ran",
}


class ClientGone(Exception):
    """The client closed its connection while a command was held."""


class HoldOutcome(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"  # an approver said no: ``message`` names them and their reason
    CANCELLED = "cancelled"  # the client cancelled the wait
    EXPIRED = "expired"  # nobody decided in time
    UNAVAILABLE = "unavailable"  # the store could not open the review: ``reason`` says why


STORE_RULE = "audit/store"  # the rule named for commands refused because no review could open
# A store that stops answering while a command waits: asked again this often, until the
# review's deadline plus the grace (then the command is refused, 53000; the session goes on).
STORE_RETRY_S = 1.0
STORE_GRACE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Held:
    """How a hold ended: the review (None when none could be opened), the outcome and, unless
    approved, what the client is told; ``reason``: why the store could not open the review."""

    review_id: str | None
    outcome: HoldOutcome
    message: str = ""
    detail: str | None = None
    reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.outcome is HoldOutcome.APPROVED


async def hold(
    s: Session,
    service: ApprovalService,
    metrics: Metrics,
    *,
    left: asyncio.Event,
    text: str,
    verdict: Verdict,
    params: Sequence[bytes | None] = (),
    notify: Callable[[str], None],
    redact: Redactor,
    impact: Impact | None = None,
    health: StoreHealth | None = None,
) -> Held:
    """Hold a command for review until it is decided, cancelled or expires.

    ``params`` are the values bound to it (shown on the card with the text); ``impact`` what
    the listener counted it would touch (on the review, the card and the audit). ``left`` is set
    when the client closes its connection: the review is cancelled and ClientGone raised. So
    is the review when the session ends meanwhile (this is cancelled). ``redact`` is the
    dialect's: the review gets the text and values it returns, and the hash of the exact ones.
    A store that cannot open the review returns UNAVAILABLE at once (``health`` hears of it).
    """
    redacted = redact(text, params)
    shown = redacted.text
    if params:
        shown = f"{shown}\n-- parameters: {_params(redacted.params)}"
    # A cancel that arrives while the review is being opened must not be lost.
    s.cancel_hold.clear()
    s.holding = ""
    try:
        try:
            review = await service.hold_statement(
                s.identity,
                s.connection,
                shown,
                risk=verdict.risk,
                rule=verdict.rule,
                session_id=s.id,
                statement_sha256=held_sha256(text, params),
                impact=impact,
            )
        except Unavailable as exc:
            if health is not None:
                health.failed(exc)
            return _unavailable(exc)
        s.holding = review.id
        s.held += 1
        conn = service.connection(s.connection)
        where = conn.approvers.channel or "the approvers"
        notify(
            f"held for approval: review {review.id} posted to {where}, waiting up to "
            f"{human_duration(conn.review_timeout)} ({verdict.reason}){_impact(impact)}"
        )
        try:
            final, why = await _wait(s, service, review, left)
        except Unavailable as exc:  # past the deadline, the store still cannot say: refused
            if health is not None:
                health.failed(exc)
            return _unavailable(exc, review.id)
    finally:
        s.holding = None
    metrics.hold_seconds.observe((service.clock.now() - review.created_at).total_seconds())
    if why == "gone":
        raise ClientGone
    return _outcome(review.id, final, conn.review_timeout)


def held_sha256(text: str, params: Sequence[bytes | None] = ()) -> str:
    """The hex SHA-256 a review binds to: of the text's exact bytes (UTF-8, as the client sent
    them: a text a listener decoded with ``surrogateescape`` gives its bytes back) and, when
    values are bound, each value after it as the PostgreSQL Bind message carries one: an Int32
    length (-1 for NULL), then its bytes (PostgreSQL docs 55.7, "Message Formats", Bind)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape"))
    for value in params:
        if value is None:
            digest.update((-1).to_bytes(4, "big", signed=True))
        else:
            digest.update(len(value).to_bytes(4, "big", signed=True))
            digest.update(value)
    return digest.hexdigest()


def _unavailable(exc: Unavailable, review_id: str | None = None) -> Held:
    """A review the store could not open (``review_id`` None), or one whose outcome it could not
    tell by the review's deadline."""
    what = (
        "so no review can be opened for this statement"
        if review_id is None
        else f"so the outcome of review {review_id} cannot be read"
    )
    return Held(
        review_id,
        HoldOutcome.UNAVAILABLE,
        f"refused: the audit store is unavailable ({exc.reason}), {what} and nothing runs "
        f"unreviewed (rule {STORE_RULE}); try again shortly",
        reason=exc.reason,
    )


def _outcome(review_id: str, final: ReviewEnding | None, timeout: timedelta) -> Held:
    if final is None or final.state is ReviewState.CANCELLED:
        return Held(review_id, HoldOutcome.CANCELLED, CANCELLED_MESSAGE)
    if final.state is ReviewState.APPROVED:
        return Held(review_id, HoldOutcome.APPROVED)
    if final.state is ReviewState.DENIED:
        who = final.decided_by or "an approver"
        reason = final.reason or "no reason given"
        return Held(
            review_id, HoldOutcome.DENIED, f"denied by {who}: {reason}", f"review {review_id}"
        )
    return Held(
        review_id,
        HoldOutcome.EXPIRED,
        f"review {review_id} was {final.state.value}: "
        f"nobody decided within {human_duration(timeout)}",
    )


async def _decision(service: ApprovalService, review: Review) -> ReviewEnding:
    """``await_ending``, through an outage of the store: retried every ``STORE_RETRY_S`` (a
    decision taken meanwhile, on any replica, is read once the store answers). Past the
    review's deadline and ``STORE_GRACE`` the store's Unavailable is raised: the review can no
    longer be approved by then, and its outcome cannot be read, so the command is refused."""
    while True:
        try:
            return await service.await_ending(review.id)
        except Unavailable:
            if service.clock.now() > review.expires_at + STORE_GRACE:
                raise
            await asyncio.sleep(STORE_RETRY_S)


async def _wait(
    s: Session, service: ApprovalService, review: Review, left: asyncio.Event
) -> tuple[ReviewEnding | None, str]:
    """Wait for the decision, a cancel or the client leaving; returns (how it ended, why)."""
    review_id = review.id
    decision = asyncio.create_task(_decision(service, review))
    gone = asyncio.create_task(left.wait())
    cancel = asyncio.create_task(s.cancel_hold.wait())
    tasks = (decision, gone, cancel)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the session ended (revoked, shut down, protocol error)
        why = ENDED.get(s.ending) if s.ending is not None else None
        ending = service.abandon(review_id, why) if why else service.cancel(review_id, s.identity)
        with contextlib.suppress(ApprovalError, Unavailable):
            await asyncio.shield(ending)
        raise
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if decision.done() and not decision.cancelled():
        return decision.result(), "decided"
    client_left = gone.done() and not gone.cancelled()
    final: ReviewEnding | None = None
    try:
        final = ReviewEnding.of(await service.cancel(review_id, s.identity))
    except ApprovalError:
        final = None
    except Unavailable:  # the cancel is not recorded; the review, never decided, expires
        return (None, "gone") if client_left else (None, "decided")
    if final is None:  # decided meanwhile: the cancel lost the race
        final = await service.await_ending(review_id)
    return (None, "gone") if client_left else (final, "decided")


def _impact(impact: Impact | None) -> str:
    """What the notice says of a held write's count."""
    if impact is None:
        return ""
    if impact.rows is None:
        return f"; {impact.note}"
    return f"; it would touch {impact.rows} row{'' if impact.rows == 1 else 's'}"


def _params(params: Sequence[bytes | None]) -> str:
    shown = []
    for value in params[:20]:
        if value is None:
            shown.append("NULL")
        else:
            shown.append(repr(value[:200].decode("utf-8", "replace")))
    return ", ".join(shown) + (" …" if len(params) > 20 else "")
