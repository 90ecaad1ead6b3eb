"""What the MCP tools answer: a statement's result (masked rows, capped, with a clear note
when cut) and a review's state (held or pending with where it was posted, approved with its
ticket's use, denied with the approver's reason, or how else it ended)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from approvals import ApprovalError, ApprovalService, Review, ReviewKind, ReviewState
from approvals.policy import human_duration
from gateway.mcp.ports import Result

__all__ = ["MAX_BYTES", "MAX_ROWS", "result_answer", "review_answer"]

MAX_ROWS = 500  # rows a query returns at most (the rest are counted, and the answer says so)
MAX_BYTES = 256 * 1024  # bytes of values a query returns at most


def result_answer(result: Result, review_id: str | None) -> dict[str, Any]:
    if result.error is not None:
        code, message = result.error
        answer: dict[str, Any] = {"status": "error", "code": code, "error": message}
    else:
        answer = {
            "status": "ok",
            "command": result.command,
            "row_count": result.row_count,
            "columns": list(result.columns),
            "rows": [list(row) for row in result.rows],
        }
        if result.truncated:
            answer["truncated"] = (
                f"only the first {len(result.rows)} rows are shown: the result has more (a "
                f"call returns at most {MAX_ROWS} rows and {MAX_BYTES // 1024} KiB of values); "
                "add a LIMIT or a narrower WHERE, or select fewer columns"
            )
        if result.masked:
            answer["masked"] = dict(result.masked)
    if review_id is not None:
        answer["review_id"] = review_id
    return answer


def review_answer(service: ApprovalService, review: Review, ttl: timedelta) -> dict[str, Any]:
    """What a tool says of a review: held (where it was posted, until when), approved (for a
    statement: re-send it unchanged within the ticket's lifetime), denied (by whom, why),
    or ended otherwise."""
    answer: dict[str, Any] = {
        "review_id": review.id,
        "connection": review.connection,
        "kind": review.kind.value,
        "expires_at": review.expires_at.isoformat(),
    }
    try:
        where = service.connection(review.connection).approvers.channel or "the approvers"
    except ApprovalError:
        where = "the approvers"
    if review.impact is not None:
        answer["impact"] = {"rows": review.impact.rows, "note": review.impact.note}
    deciding = review.deciding
    if review.state is ReviewState.PENDING:
        timeout = review.expires_at - review.created_at
        answer.update(
            status="held" if review.kind is ReviewKind.STATEMENT else "pending",
            posted_to=where,
            message=f"{_what(review)} for approval: review {review.id} posted to {where}, "
            f"waiting up to {human_duration(timeout)}; {_next(review)}",
        )
    elif review.state is ReviewState.APPROVED:
        answer.update(
            status="approved", approved_by=deciding.approver.subject if deciding else None
        )
        if review.ticket is not None:
            decided = review.decided_at or review.created_at
            answer["ticket"] = "used" if review.redeemed_at is not None else "unused"
            answer["ticket_expires_at"] = (decided + ttl).isoformat()
    elif review.state is ReviewState.DENIED:
        who = deciding.approver.subject if deciding else "an approver"
        reason = deciding.reason if deciding and deciding.reason else "no reason given"
        answer.update(status="denied", denied_by=who, error=f"denied by {who}: {reason}")
    else:
        answer.update(status=review.state.value, error=review.cancel_reason)
    return answer


def _what(review: Review) -> str:
    return "held" if review.kind is ReviewKind.STATEMENT else "access requested"


def _next(review: Review) -> str:
    if review.kind is ReviewKind.STATEMENT:
        return "call wait_for_review, then re-send the identical query to run it once"
    return "call wait_for_review; once approved, your access is a delegation"
