"""Revocation ends live sessions within a second — of a delegation, a person, a service account
or a token, including agents further down the chain, on every replica — and refuses new ones."""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path

import pytest

from approvals import ReviewState, new_id
from tests.conftest import fresh_pg_database
from tests.harness import RunningGateway
from tests.identity.support import (
    ADMIN,
    Psql,
    Target,
    client_credentials,
    connect_error,
    create_account,
    exchange,
    identity_gateway,
    wait_until,
)

SLEEP = "SELECT pg_sleep(30)"


async def _open(gw: RunningGateway, target: Target, token: str, connection: str) -> Psql:
    """A psql session through the gateway, busy upstream until something ends it."""
    marker = new_id()
    session = await Psql(gw, token, f"{SLEEP}, '{marker}'", connection=connection).start()
    await wait_until(lambda: target.running(marker), what="the session's statement")
    return session


async def _ended_within(session: Psql, started: float, limit: float = 1.0) -> str:
    code, _, err = await session.result(within=10)
    elapsed = time.monotonic() - started
    assert code != 0
    assert elapsed < limit, f"the session ended {elapsed:.2f}s after the revocation"
    return err


async def _grant(gw: RunningGateway, connection: str) -> str:
    """alice asks for 1h on ``connection``; bob (dba) approves. Returns the delegation id."""
    async with gw.client(gw.token("alice@example.com", ["eng"])) as http:
        asked = await http.post(
            "/v1/access-requests",
            json={"connection": connection, "duration": "1h", "reason": "INC-42"},
        )
    assert asked.status_code == 201, asked.text
    async with gw.client(gw.token("bob@example.com", ["dba"])) as http:
        decided = await http.post(
            f"/v1/reviews/{asked.json()['id']}/decisions", json={"outcome": "approve"}
        )
    assert decided.json()["state"] == ReviewState.APPROVED.value, decided.text
    [delegation] = await gw.runtime.repository.list_delegations(subject="alice@example.com")
    return delegation.id


async def test_revoking_a_delegation_drops_the_open_session_and_refuses_the_next(
    tmp_path: Path, target: Target
) -> None:
    """Without a delegation alice is told how to ask; approved for 1h she connects; revoking it
    ends her open psql session within a second (57P01, saying why) and refuses the next connect;
    the delegation's use was counted."""
    conn = target.connection("pg-req", access="request")
    async with identity_gateway(tmp_path, connections=[conn]) as gw:
        alice = gw.token("alice@example.com", ["eng"])
        sqlstate, message = await connect_error(gw, alice, "pg-req")
        assert sqlstate == "42501" and "`/access request pg-req for 1h because <reason>`" in message
        delegation = await _grant(gw, "pg-req")
        session = await _open(gw, target, alice, "pg-req")
        started = time.monotonic()
        async with gw.client(gw.token(*ADMIN)) as http:
            revoked = await http.post(
                f"/v1/delegations/{delegation}/revoke", json={"reason": "incident closed"}
            )
        assert revoked.status_code == 200, revoked.text
        err = await _ended_within(session, started)
        assert "FATAL:  57P01: terminating connection: access revoked: delegation" in err
        assert "revoked by root@example.com: incident closed" in err
        assert (await connect_error(gw, alice, "pg-req"))[0] == "42501"
        held = await gw.runtime.repository.get_delegation(delegation)
        assert held is not None and held.use_count >= 2 and held.last_used_at is not None


async def test_revoking_a_person_ends_their_agents_sessions_on_every_replica(
    tmp_path: Path, target: Target
) -> None:
    """Two replicas on one PostgreSQL store: revoking alice on replica A ends, on replica B, the
    session of the agent acting for her, within a second; her tokens are refused at once."""
    conn = target.connection("pg-test", allow_groups=["eng", "ci"])
    async with (
        fresh_pg_database() as store,
        identity_gateway(tmp_path, connections=[conn], store_url=store, name="a") as a,
        identity_gateway(tmp_path, connections=[conn], store_url=store, name="b") as b,
    ):
        alice = a.token("alice@example.com", ["eng"])  # same signing key: it is in the store
        client_id, secret = await create_account(a, "ci-runner", ["ci"])
        ci = (await client_credentials(b, client_id, secret)).json()["access_token"]
        delegated = (await exchange(b, alice, ci)).json()["access_token"]
        session = await _open(b, target, delegated, "pg-test")
        bystander = await Psql(b, b.token("carol@example.com", ["eng"]), "SELECT 1").start()
        started = time.monotonic()
        async with a.client(a.token(*ADMIN)) as http:
            revoked = await http.post(
                "/v1/revocations/subjects",
                json={"subject": "alice@example.com", "reason": "left the company"},
            )
        assert revoked.status_code == 201, revoked.text
        err = await _ended_within(session, started)
        assert "access revoked: alice@example.com was revoked: left the company" in err
        assert (await bystander.result())[0] == 0
        sqlstate, message = await connect_error(b, alice)
        assert sqlstate == "28P01" and "access revoked" in message
        async with b.client(delegated) as http:
            assert (await http.get("/v1/whoami")).status_code == 401


async def test_disabling_a_service_account_ends_every_chain_it_is_in(
    tmp_path: Path, target: Target
) -> None:
    """ci-runner acts for alice and for bob; disabling it ends both sessions, not carol's."""
    conn = target.connection("pg-test", allow_groups=["eng", "ci"])
    async with identity_gateway(tmp_path, connections=[conn]) as gw:
        client_id, secret = await create_account(gw, "ci-runner", ["ci"])
        ci = (await client_credentials(gw, client_id, secret)).json()["access_token"]
        sessions = []
        for person in ("alice@example.com", "bob@example.com"):
            delegated = (await exchange(gw, gw.token(person, ["eng"]), ci)).json()
            sessions.append(await _open(gw, target, delegated["access_token"], "pg-test"))
        carol = await Psql(gw, gw.token("carol@example.com", ["eng"]), "SELECT 3").start()
        started = time.monotonic()
        async with gw.client(gw.token(*ADMIN)) as http:
            await http.post("/v1/service-accounts/ci-runner/disable", json={"reason": "leak"})
        for session in sessions:
            err = await _ended_within(session, started)
            assert "service account ci-runner is disabled: leak" in err
        assert (await carol.result())[:2] == (0, "3\n")


async def test_revoking_a_token_ends_the_sessions_of_tokens_exchanged_from_it(
    tmp_path: Path, target: Target
) -> None:
    """alice revokes her own token; the agent's session on a token exchanged from it ends, and
    both tokens are refused from then on."""
    conn = target.connection("pg-test", allow_groups=["eng", "ci"])
    async with identity_gateway(tmp_path, connections=[conn]) as gw:
        alice = gw.token("alice@example.com", ["eng"])
        client_id, secret = await create_account(gw, "ci-runner", ["ci"])
        ci = (await client_credentials(gw, client_id, secret)).json()["access_token"]
        delegated = (await exchange(gw, alice, ci)).json()["access_token"]
        session = await _open(gw, target, delegated, "pg-test")
        async with gw.client(alice) as http:
            jti = (await http.get("/v1/whoami")).json()["jti"]
            started = time.monotonic()
            revoked = await http.post(
                "/v1/revocations/tokens", json={"jti": jti, "reason": "laptop stolen"}
            )
            assert revoked.status_code == 201, revoked.text
            assert (await http.get("/v1/whoami")).status_code == 401
        err = await _ended_within(session, started)
        assert f"access revoked: token {jti} was revoked: laptop stolen" in err
        sqlstate, _ = await connect_error(gw, delegated)
        assert sqlstate == "28P01"
        async with gw.client(gw.token("mallory@example.com")) as http:
            other = await http.post("/v1/revocations/tokens", json={"jti": "x", "reason": "r"})
        assert other.status_code == 403


async def test_a_revocation_during_the_start_up_still_ends_the_session(
    tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation that lands after the password was checked but before the session relays
    (so no live session heard its event) ends the session as it starts."""
    async with identity_gateway(tmp_path, connections=[target.connection()]) as gw:
        alice = gw.token("alice@example.com", ["eng"])
        store = gw.runtime.identity.store
        async with gw.client(gw.token(*ADMIN)) as http:
            await http.post(
                "/v1/revocations/subjects",
                json={"subject": "alice@example.com", "reason": "raced"},
            )
        original, calls = store.revoked, []

        async def late(subjects: Collection[str], token_ids: Collection[str]) -> str | None:
            calls.append(1)  # the start-up's check ran just before the revocation committed
            return None if len(calls) == 1 else await original(subjects, token_ids)

        monkeypatch.setattr(store, "revoked", late)
        code, _, err = await (await Psql(gw, alice, "SELECT 1").start()).result()
        assert code != 0 and "access revoked: alice@example.com was revoked: raced" in err
        assert len(calls) == 2
