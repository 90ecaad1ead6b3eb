"""Just-in-time access: break-glass self-approval (reason required, approvers told, audit
flagged) and batched usage counting of the delegations sessions rest on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from approvals.jit import BREAK_GLASS
from store import IdentityStore, Outbox
from tests.harness import RunningGateway
from tests.identity.support import Psql, Target, identity_gateway, psql, wait_until

ALICE = ("alice@example.com", ["eng"])


def _request_only(target: Target, name: str, **overrides: Any) -> dict[str, Any]:
    approvers = {"groups": ["dba"], "identities": ["carol@example.com"], "channel": "#dba"}
    return target.connection(name, access="request", approvers=approvers, **overrides)


async def _ask(gw: RunningGateway, connection: str) -> str:
    async with gw.client(gw.token(*ALICE)) as http:
        asked = await http.post(
            "/v1/access-requests",
            json={"connection": connection, "duration": "1h", "reason": "INC-99 prod is down"},
        )
    assert asked.status_code == 201, asked.text
    return str(asked.json()["id"])


async def _self_approve(gw: RunningGateway, review_id: str, reason: str | None) -> Any:
    async with gw.client(gw.token(*ALICE)) as http:
        return await http.post(
            f"/v1/reviews/{review_id}/decisions",
            json={"outcome": "approve", "break_glass": True, "reason": reason},
        )


async def test_break_glass_self_approval_tells_every_approver_and_flags_the_audit(
    tmp_path: Path, target: Target
) -> None:
    """alice approves her own request with a reason where break-glass is on: she connects at
    once, a ``review.break_glass`` event names the approvers to tell, the audit flags it."""
    connections = [_request_only(target, "pg-bg", break_glass=True)]
    async with identity_gateway(tmp_path, connections=connections) as gw:
        review_id = await _ask(gw, "pg-bg")
        blank = await _self_approve(gw, review_id, " ")
        assert blank.status_code == 403 and blank.json()["error"]["code"] == "reason_required"
        approved = await _self_approve(gw, review_id, "prod down, nobody answers")
        assert approved.json()["state"] == "approved", approved.text
        code, out, err = await psql(
            gw, gw.token(*ALICE), "SELECT count(*) FROM t", connection="pg-bg"
        )
        assert (code, out.strip()) == (0, "3"), err
        [delegation] = await gw.runtime.repository.list_delegations(subject=ALICE[0])
        assert delegation.break_glass and delegation.granted_by == ALICE[0]
        events = await Outbox(gw.runtime.database).since(datetime(2000, 1, 1, tzinfo=UTC))
        [notice] = [e.event for e in events if e.event.topic == BREAK_GLASS]
        assert notice.key == review_id
        assert notice.payload["notify"] == {
            "channel": "#dba",
            "groups": ["dba"],
            "identities": ["carol@example.com"],
        }
        assert notice.payload["reason"] == "prod down, nobody answers"
        assert notice.payload["chain"] == [ALICE[0]]
        audit = await gw.runtime.repository.list_audit(identity=ALICE[0])
        [flagged] = [e for e in audit if e.action == BREAK_GLASS]
        assert flagged.details["break_glass"] is True and flagged.connection == "pg-bg"


async def test_break_glass_needs_the_connection_to_allow_it(tmp_path: Path, target: Target) -> None:
    """Where break-glass is off the requester's self-approval is refused."""
    async with identity_gateway(tmp_path, connections=[_request_only(target, "pg-req")]) as gw:
        refused = await _self_approve(gw, await _ask(gw, "pg-req"), "urgent")
    assert refused.status_code == 403
    assert "break-glass is not enabled on pg-req" in refused.json()["error"]["message"]


async def test_usage_is_counted_in_batches_while_and_after_a_session_runs(
    tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session on a delegation counts its connect and each query it runs; the counts reach the
    store every ``usage_flush`` (1 s here) and at the session's end, in a few batched writes."""
    connections = [_request_only(target, "pg-bg", break_glass=True)]
    async with identity_gateway(tmp_path, connections=connections) as gw:
        await _self_approve(gw, await _ask(gw, "pg-bg"), "INC-99")
        [held] = await gw.runtime.repository.list_delegations(subject=ALICE[0])
        store: IdentityStore = gw.runtime.identity.store
        writes: list[dict[str, tuple[int, datetime]]] = []
        original = store.add_delegation_uses

        async def counted(uses: Any) -> None:
            if uses:
                writes.append(dict(uses))
            await original(uses)

        monkeypatch.setattr(store, "add_delegation_uses", counted)
        session = await Psql(gw, gw.token(*ALICE), "SELECT pg_sleep(2)", connection="pg-bg").start()

        async def counted_while_running() -> bool:
            found = await gw.runtime.repository.get_delegation(held.id)
            return found is not None and found.use_count >= 1

        await wait_until(counted_while_running, within=5, what="the periodic usage flush")
        assert session.proc is not None and session.proc.returncode is None
        assert (await session.result())[0] == 0
        many = "; ".join(f"SELECT {n}" for n in range(50))  # one Query message
        assert (await psql(gw, gw.token(*ALICE), many, connection="pg-bg"))[0] == 0

        async def counted_in_full() -> bool:  # two connects, two queries
            found = await gw.runtime.repository.get_delegation(held.id)
            return found is not None and found.use_count == 4 and found.last_used_at is not None

        await wait_until(counted_in_full, within=5, what="the flush at the session's end")
        assert sum(count for batch in writes for count, _ in batch.values()) == 4
        assert len(writes) <= 4
