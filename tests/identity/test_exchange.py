"""Token exchange (RFC 8693) at /oauth/token: alice → ci-runner → sql-agent, nested ``act``,
scope = what every link may use, lifetime within every link's, and the chain in the audit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.identity import peek_claims
from tests.harness import RunningGateway
from tests.identity.support import (
    Target,
    client_credentials,
    connect_error,
    create_account,
    exchange,
    identity_gateway,
    psql,
    wait_until,
)
from tests.support.oidc_issuer import OidcIssuer


@dataclass
class World:
    gw: RunningGateway
    issuer: OidcIssuer
    alice: str  # alice's OIDC access token
    ci: str  # ci-runner's client-credentials token
    agent: str  # sql-agent's
    lone: str  # lone-agent's: in no group any connection allows


async def _token(gw: RunningGateway, name: str, groups: list[str]) -> str:
    client_id, secret = await create_account(gw, name, groups)
    answer = await client_credentials(gw, client_id, secret)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture
async def world(tmp_path: Path, issuer: OidcIssuer, target: Target) -> AsyncIterator[World]:
    connections = [
        target.connection("pg-test", allow_groups=["eng", "ci", "agents"]),
        target.connection("pg-other", allow_groups=["eng"]),
    ]
    async with identity_gateway(
        tmp_path, issuer=issuer, connections=connections, identity={"max_chain_depth": "2"}
    ) as gw:
        yield World(
            gw,
            issuer,
            issuer.token(),
            await _token(gw, "ci-runner", ["ci"]),
            await _token(gw, "sql-agent", ["agents"]),
            await _token(gw, "lone-agent", ["nobody"]),
        )


async def _chain(world: World) -> str:
    first = await exchange(world.gw, world.alice, world.ci)
    assert first.status_code == 200, first.text
    second = await exchange(world.gw, first.json()["access_token"], world.agent)
    assert second.status_code == 200, second.text
    return str(second.json()["access_token"])


async def test_the_act_claim_nests_on_each_exchange(world: World) -> None:
    """sub stays alice; the outermost act is the newest actor; the answer is RFC 8693's."""
    first = await exchange(world.gw, world.alice, world.ci)
    body = first.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and first.headers["cache-control"] == "no-store"
    second = await exchange(world.gw, body["access_token"], world.agent)
    claims = peek_claims(second.json()["access_token"])
    assert claims["sub"] == "alice@example.com" and claims["aud"] == "airlock"
    assert claims["act"]["sub"] == "sql-agent"
    assert claims["act"]["act"]["sub"] == "ci-runner"
    assert "act" not in claims["act"]["act"]
    assert claims["scope"] == "pg-test"
    async with world.gw.client(second.json()["access_token"]) as http:
        me = (await http.get("/v1/whoami")).json()
    assert me["chain"] == ["alice@example.com", "ci-runner", "sql-agent"]


async def test_the_agents_psql_session_is_audited_as_the_whole_chain(world: World) -> None:
    """sql-agent's psql session, on alice's behalf through ci-runner, is in the audit (and the
    session record) as alice → ci-runner → sql-agent, found by any link."""
    token = await _chain(world)
    code, out, err = await psql(world.gw, token, "SELECT count(*) FROM t")
    assert (code, out.strip()) == (0, "3"), err
    chain = ["alice@example.com", "ci-runner", "sql-agent"]
    auditor = world.gw.token("audit@example.com", ["security"])

    async def statements(actor: str) -> list[dict[str, object]]:
        async with world.gw.client(auditor) as http:
            found = (await http.get("/v1/audit", params={"actor": actor})).json()
        # one event per statement, or per batch of statements (``statements``)
        return [e for e in found if e["action"] in ("statement", "statements")]

    await wait_until(lambda: statements("sql-agent"), what="the statements' audit event")
    for link in chain:
        [event] = await statements(link)
        assert event["actor_chain"] == chain and event["connection"] == "pg-test"
    [session] = await world.gw.runtime.repository.list_sessions(subject="alice@example.com")
    assert list(session.identity.chain) == chain
    exchanged = await world.gw.runtime.repository.list_audit(actor_in_chain="sql-agent")
    assert any(e.action == "token.exchanged" for e in exchanged)


async def test_a_link_without_access_makes_the_exchange_fail(world: World) -> None:
    """lone-agent may use no connection: asking for pg-test, or for anything, fails."""
    asked = await exchange(world.gw, world.alice, world.lone, scope="pg-test")
    assert asked.status_code == 400
    assert asked.json()["error"] == "invalid_scope"
    assert "lone-agent may not use it" in asked.json()["error_description"]
    anything = await exchange(world.gw, world.alice, world.lone)
    assert anything.json()["error"] == "invalid_scope"
    assert "no connection is open to every link" in anything.json()["error_description"]


async def test_the_exchanged_token_cannot_do_more_than_any_link(world: World) -> None:
    """alice may use pg-other, her agents may not: the chain's token cannot reach it (42501),
    cannot ask for it, and its scope is pg-test alone."""
    assert (await psql(world.gw, world.alice, "SELECT 1", connection="pg-other"))[0] == 0
    token = await _chain(world)
    sqlstate, message = await connect_error(world.gw, token, "pg-other")
    assert sqlstate == "42501" and "does not include pg-other" in message
    asked = await exchange(world.gw, world.alice, world.ci, scope="pg-other")
    assert asked.json()["error"] == "invalid_scope"
    assert "ci-runner may not use it" in asked.json()["error_description"]
    narrowed = await exchange(world.gw, token, world.ci, scope="pg-test")
    assert narrowed.json()["error"] == "invalid_request"  # ci-runner is already in the chain


async def test_the_lifetime_is_within_every_links(world: World) -> None:
    """An exchanged token expires no later than the subject token or the actor token."""
    short = world.issuer.token(exp=int(time.time()) + 90)
    answer = (await exchange(world.gw, short, world.ci)).json()
    assert 0 < answer["expires_in"] <= 90
    assert peek_claims(answer["access_token"])["exp"] <= peek_claims(short)["exp"]


async def test_chain_depth_and_token_checks(world: World) -> None:
    """At most max_chain_depth agents; an actor must present its own, undelegated, valid token;
    tokens are only issued for Airlock's audience."""
    token = await _chain(world)
    deeper = await exchange(world.gw, token, world.lone)
    assert deeper.json()["error"] == "invalid_request"
    assert "maximum of 2 agents" in deeper.json()["error_description"]
    delegated_actor = await exchange(world.gw, world.alice, token)
    assert "itself delegated" in delegated_actor.json()["error_description"]
    expired = world.issuer.token(exp=int(time.time()) - 300)
    refused = await exchange(world.gw, expired, world.ci)
    assert refused.status_code == 400
    assert refused.json()["error_description"] == "subject_token: token has expired"
    elsewhere = await exchange(world.gw, world.alice, world.ci, audience="kubernetes")
    assert elsewhere.json()["error"] == "invalid_target"
    typeless = await exchange(world.gw, world.alice, world.ci, actor_token_type="saml")
    assert typeless.json()["error"] == "invalid_request"
