"""The MCP tools, as plain coroutines over :class:`gateway.mcp.calls.Agents`: each takes the
caller's identity (verified for this call) and its arguments, and returns the tool's answer.
Every call, refused or not, is one ``mcp.call`` audit event with the caller's whole chain, the
tool, the connection, the statement as the dialect redacts it, and the outcome.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from approvals import AccessNotAllowed, ApprovalError, AuditEntry, Identity, Review
from approvals.policy import may_see
from gateway.config import parse_duration
from gateway.mcp.answers import review_answer
from gateway.mcp.calls import MAX_WAIT_S, Agents, QueryCall
from gateway.mcp.errors import CallRefused, McpError
from store import StoreError

__all__ = ["Tools"]

log = logging.getLogger("airlock.mcp")


class Tools:
    """The five tools; ``audit`` records each call (see the module docstring)."""

    def __init__(self, agents: Agents) -> None:
        self.agents = agents

    async def list_connections(self, identity: Identity) -> dict[str, Any]:
        """What the caller may use now (standing access or a live delegation), each with its
        rules in one line; and the connections it could ask for (``request_access``)."""
        usable: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        service = self.agents.service
        for name in sorted(self.agents.types):
            try:
                runner = self.agents.runner(name)
            except CallRefused:
                continue
            entry: dict[str, Any] = {
                "name": name,
                "type": self.agents.types[name],
                "rules": runner.rules(name),
            }
            try:
                delegation = await service.authorize_connect(identity, name)
            except AccessNotAllowed as exc:
                others.append({**entry, "why_not": exc.message})
                continue
            if delegation is None:
                entry["access"] = "standing"
            else:
                entry["access"] = f"delegation until {delegation.expires_at.isoformat()}"
                entry["role"] = delegation.role
            usable.append(entry)
        answer = {"status": "ok", "connections": usable, "not_usable": others}
        await self.audit(identity, "list_connections", None, None, "ok", {"count": len(usable)})
        return answer

    async def query(self, identity: Identity, call: QueryCall) -> dict[str, Any]:
        """The ``query`` tool (:meth:`Agents.query`), audited."""
        details: dict[str, Any] = {"statement": self._redacted(call)}
        try:
            answer = await self.agents.query(call)
        except McpError as exc:
            details.update(error=exc.message, code=exc.code)
            await self.audit(identity, "query", call.connection, None, "refused", details)
            raise
        except Exception as exc:  # a failure of the gateway's own: recorded, then raised
            details["error"] = type(exc).__name__
            await self.audit(identity, "query", call.connection, None, "error", details)
            raise
        details["session_id"] = answer.get("session_id")
        for key in ("review_id", "rule", "error", "row_count"):
            if answer.get(key) is not None:
                details[key] = answer[key]
        target = answer.get("review_id")
        await self.audit(identity, "query", call.connection, target, answer["status"], details)
        return answer

    async def review_status(self, identity: Identity, review_id: str) -> dict[str, Any]:
        """A review the caller may see: its state (held, approved, denied, ...)."""
        review = await self._visible(identity, "review_status", review_id)
        answer = review_answer(self.agents.service, review, self.agents.approval_ttl)
        await self.audit(identity, "review_status", review.connection, review.id, "ok", {})
        return answer

    async def wait_for_review(
        self, identity: Identity, review_id: str, timeout_seconds: float
    ) -> dict[str, Any]:
        """Wait up to ``timeout_seconds`` (at most 300) for the review's decision."""
        if not 0 < timeout_seconds <= MAX_WAIT_S:
            raise CallRefused(f"timeout_seconds must be in (0, {MAX_WAIT_S}]", "invalid_params")
        review = await self._visible(identity, "wait_for_review", review_id)
        service = self.agents.service
        try:
            async with asyncio.timeout(timeout_seconds):
                review = await service.await_decision(review.id)
        except TimeoutError:
            review = await service.repository.get_review(review.id) or review
        answer = review_answer(service, review, self.agents.approval_ttl)
        await self.audit(identity, "wait_for_review", review.connection, review.id,
                         answer["status"], {})  # fmt: skip
        return answer

    async def request_access(
        self,
        identity: Identity,
        connection: str,
        duration: str,
        reason: str,
        role: str | None,
    ) -> dict[str, Any]:
        """File an access request (``/access request`` in chat): a review whose approval
        creates a delegation for the caller."""
        details: dict[str, Any] = {"duration": duration, "reason": reason, "role": role}
        try:
            try:
                length = parse_duration(duration)
            except ValueError as exc:
                raise CallRefused(f"duration: {exc}", "invalid_params") from exc
            try:
                review = await self.agents.service.request_access(
                    identity, connection, role=role, duration=length, reason=reason
                )
            except ApprovalError as exc:
                raise CallRefused(exc.message, exc.code) from exc
        except CallRefused as exc:
            details["error"] = exc.message
            await self.audit(identity, "request_access", connection, None, "refused", details)
            raise
        answer = review_answer(self.agents.service, review, self.agents.approval_ttl)
        await self.audit(identity, "request_access", connection, review.id, "pending", details)
        return answer

    # -- helpers -------------------------------------------------------------------------

    async def _visible(self, identity: Identity, tool: str, review_id: str) -> Review:
        review = await self.agents.service.repository.get_review(review_id)
        conn = self.agents.service.connections.get(review.connection) if review else None
        if review is None or not may_see(identity, review, conn, auditor=False):
            await self.audit(identity, tool, None, review_id, "refused", {"error": "not found"})
            raise CallRefused(f"no review {review_id} that you may see", "not_found")
        return review

    def _redacted(self, call: QueryCall) -> str:
        """The statement as its dialect shows it (secrets replaced); "" when no runner serves
        the connection (the text of an unknown connection is not kept)."""
        try:
            return self.agents.runner(call.connection).redactor(call.connection)(call.sql).text
        except CallRefused:
            return ""

    async def audit(
        self,
        identity: Identity,
        tool: str,
        connection: str | None,
        target: str | None,
        outcome: str,
        details: dict[str, Any],
    ) -> None:
        """One ``mcp.call`` event: through the MCP service's audit writer once it runs (in
        its next batch), else on its own transaction."""
        entry = AuditEntry(
            action="mcp.call",
            actor=identity,
            target=target or tool,
            outcome=outcome,
            at=datetime.now(UTC),
            connection=connection,
            details={"tool": tool, "edge": "mcp", **details},
        )
        core = self.agents.core
        try:
            if core is not None:
                core.audit.submit(entry)
            else:
                await self.agents.service.record(entry)
        except StoreError as exc:  # refused or not, the call's answer stands; the log says so
            log.warning(
                "could not record the MCP call %s of %s: %s", tool, identity.describe(), exc
            )
