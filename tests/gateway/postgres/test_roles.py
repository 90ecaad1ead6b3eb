"""Roles of an access request are enforced on the wire: a connection's ``roles`` name upstream
credentials, an access request may name one of them, and a session resting on the delegation
connects as that credential (the approver granted that role, not the connection's own)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio

from approvals import Delegation, new_id
from gateway.postgres import wire as pg
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

READER = f"airlock_ro_{secrets.token_hex(4)}"  # a cluster-wide name: one per run


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f"CREATE ROLE {READER} LOGIN")
    try:
        async with gateway_env(
            tmp_path_factory.mktemp("roles"),
            name="pg-req",
            access="request",
            roles={"readonly": {"username": READER}},
        ) as env:
            await env.upstream(f"GRANT SELECT ON t TO {READER}")
            yield env
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {READER}")
        await admin.close()


async def _ask(env: Env, role: str | None) -> tuple[int, dict[str, object]]:
    async with env.gw.client(env.token) as http:
        asked = await http.post(
            "/v1/access-requests",
            json={"connection": "pg-req", "duration": "1h", "reason": "INC-7", "role": role},
        )
    return asked.status_code, asked.json()


async def _revoke_all(env: Env) -> None:
    async with env.gw.client(env.approver) as http:
        for item in (await http.get("/v1/delegations")).json():
            if item.get("revoked_at") is None:
                await http.post(f"/v1/delegations/{item['id']}/revoke", json={"reason": "next"})


async def test_the_granted_role_is_the_credential_the_session_uses(env: Env) -> None:
    await _revoke_all(env)
    status, review = await _ask(env, "readonly")
    assert status == 201, review
    await env.decide(str(review["id"]), "approve", "read only is fine")
    conn = await env.asyncpg("pg-req")
    try:
        assert await conn.fetchval("SELECT current_user") == READER
        assert await conn.fetchval("SELECT count(*) FROM t") == 3
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute("DELETE FROM t WHERE id = 1")  # the role cannot, whatever rules say
    finally:
        await conn.close()
    assert await env.count() == 3
    [session] = await env.gw.runtime.repository.list_sessions(connection="pg-req", limit=1)
    assert session.stats["role"] == "readonly"


async def test_without_a_role_the_session_uses_the_connections_own_credential(env: Env) -> None:
    await _revoke_all(env)
    status, review = await _ask(env, None)
    assert status == 201, review
    await env.decide(str(review["id"]), "approve", "ok")
    conn = await env.asyncpg("pg-req")
    try:
        assert await conn.fetchval("SELECT current_user") == "postgres"
    finally:
        await conn.close()


async def test_a_request_for_a_role_the_connection_lacks_is_refused(env: Env) -> None:
    status, answer = await _ask(env, "admin")
    assert status in (400, 403, 422), answer
    assert "no role 'admin'" in str(answer) and "readonly" in str(answer)


async def test_a_delegation_whose_role_is_no_longer_defined_cannot_connect(env: Env) -> None:
    """A role taken out of the configuration after the grant: refused, never widened to the
    connection's own credential."""
    await _revoke_all(env)
    now = env.gw.runtime.service.clock.now()
    delegation = Delegation(
        id=new_id(),
        subject="alice@example.com",
        connection="pg-req",
        role="retired",
        granted_by="bob@example.com",
        reason="granted before the role was removed",
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    async with env.gw.runtime.repository.transaction() as tx:
        await tx.add_delegation(delegation)
    client = await RawClient.connect(env.port)
    try:
        [error] = await client.login(env.token, database="pg-req")
        assert isinstance(error, pg.ErrorResponse) and error.sqlstate == "42501", error
        assert "role 'retired'" in (error.message or "")
    finally:
        client.close()
