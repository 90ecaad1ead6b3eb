"""The MCP server against a real ``airlock up`` and the real PostgreSQL, with the SDK's own
client: tools, masking, agent-friendly holds and their single-use approvals, denials, access
requests, revocation, and the refusal of missing, bad and expired tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.gateway.mcp.conftest import Airlock, call, mcp

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = "alice@example.com"
CHAIN = ("ci-runner", "sql-agent")
TOOLS = {"list_connections", "query", "review_status", "wait_for_review", "request_access"}


async def _table(airlock: Airlock, name: str, rows: int = 3) -> None:
    await airlock.sql(f"CREATE TABLE {name} AS SELECT g AS n FROM generate_series(1, {rows}) g")


async def _count(airlock: Airlock, name: str) -> int:
    return int((await airlock.sql(f"SELECT count(*) AS c FROM {name}"))[0]["c"])


def _agent_token(airlock: Airlock) -> str:
    """alice (an approver herself) → ci-runner → sql-agent."""
    return airlock.tokens.mint(
        ALICE, groups=("eng", "dba"), ttl=timedelta(hours=1), actors=_actors()
    )


def _actors() -> tuple[Any, ...]:
    from approvals import Actor

    return tuple(Actor(a, groups=frozenset({"eng"})) for a in CHAIN)


async def test_tools_are_listed_and_rows_come_back_masked(airlock: Airlock) -> None:
    """The five tools are listed; list_connections tells usable from not; a SELECT's rows come
    back with the connection's column rule and detector applied, and a big one is capped."""
    async with mcp(airlock.mcp_url, airlock.token("pat@example.com")) as session:
        listed = await session.list_tools()
        assert {tool.name for tool in listed.tools} == TOOLS
        conns = await call(session, "list_connections")
        assert [c["name"] for c in conns["connections"]] == ["pg-limit", "pg-prod"]
        prod = conns["connections"][1]
        assert prod["access"] == "standing" and "masks ssn, email values" in prod["rules"]
        assert [c["name"] for c in conns["not_usable"]] == ["pg-req"]
        rows = await call(
            session, "query", connection="pg-prod", sql="SELECT * FROM customers ORDER BY id"
        )
        assert rows["status"] == "ok" and rows["columns"] == ["id", "name", "email", "ssn"]
        assert rows["rows"][0] == ["1", "Ann", "a***@example.com", "***-**-6789"]
        assert rows["masked"] == {"ssn": 3, "email": 3}
        big = await call(session, "query", connection="pg-prod", sql="SELECT n FROM big")
        assert len(big["rows"]) == 500 and "only the first 500 rows" in big["truncated"]
        bound = await call(session, "query", connection="pg-prod",
                           sql="SELECT name FROM customers WHERE id = $1", params=[2])  # fmt: skip
        assert bound["rows"] == [["Bob"]]


async def test_a_held_delete_runs_once_after_approval(airlock: Airlock) -> None:
    """A held DELETE answers at once with its review and runs nothing; the requester (an
    approver herself) cannot approve it; after bob's approval the identical re-send runs once,
    a second re-send and a changed text are held again; the card's review says MCP."""
    await _table(airlock, "t_approve")
    sql = "DELETE FROM t_approve"
    async with mcp(airlock.mcp_url, _agent_token(airlock)) as session:
        started = time.monotonic()
        held = await call(session, "query", connection="pg-prod", sql=sql)
        assert time.monotonic() - started < 5
        assert held["status"] == "held" and held["posted_to"] == "#dba-oncall"
        assert held["expires_at"] and held["review_id"]
        assert held["impact"]["rows"] == 3  # counted read-only for the card
        assert await _count(airlock, "t_approve") == 3  # nothing ran
        review_id = held["review_id"]
        assert await airlock.decide(ALICE, review_id, "approve") == 403
        status = await call(session, "review_status", review_id=review_id)
        assert status["status"] == "held"
        assert await airlock.decide("bob@example.com", review_id, "approve") == 200
        status = await call(session, "review_status", review_id=review_id)
        assert status["status"] == "approved" and status["ticket"] == "unused"
        ran = await call(session, "query", connection="pg-prod", sql=sql)
        assert ran["status"] == "ok" and ran["command"] == "DELETE 3"
        assert ran["review_id"] == review_id
        assert await _count(airlock, "t_approve") == 0
        again = await call(session, "query", connection="pg-prod", sql=sql)
        assert again["status"] == "held" and again["review_id"] != review_id
        changed = await call(session, "query", connection="pg-prod", sql=sql + " ")
        assert changed["status"] == "held"
        assert changed["review_id"] not in (review_id, again["review_id"])
    async with airlock.api(airlock.token("bob@example.com", ("dba",))) as api:
        shown = (await api.get(f"/v1/reviews/{review_id}")).json()
    assert shown["via"] == "MCP" and shown["redeemed_at"] is not None
    held_events = await airlock.audit("statement.held")
    mine = [e for e in held_events if e["target"] == review_id]
    assert mine and mine[0]["details"]["via"] == "MCP"
    assert mine[0]["actor_chain"] == [ALICE, *CHAIN]


async def test_blocked_statements_and_others_reviews_are_refused(airlock: Airlock) -> None:
    """A blocked statement answers its rule and runs nothing; a review is not shown to a
    caller outside its requester's chain and its approvers."""
    async with mcp(airlock.mcp_url, airlock.token("hal@example.com")) as session:
        blocked = await call(session, "query", connection="pg-prod",
                             sql="SELECT pg_read_file('/etc/passwd')")  # fmt: skip
        assert blocked["status"] == "blocked" and blocked["rule"]
        held = await call(session, "query", connection="pg-prod", sql="DELETE FROM big")
        assert held["status"] == "held"
    async with mcp(airlock.mcp_url, airlock.token("ivy@example.com")) as other:
        hidden = await call(other, "review_status", review_id=held["review_id"])
        assert hidden["is_error"] and "not_found" in hidden["text"]
    assert int((await airlock.sql("SELECT count(*) AS c FROM big"))[0]["c"]) == 2000


async def test_copy_is_refused_in_words(airlock: Airlock) -> None:
    """COPY FROM STDIN (no data stream) is aborted and nothing is written; COPY TO STDOUT
    returns no rows; both say what to use instead, and the call after them works."""
    await _table(airlock, "t_copy", rows=1)
    async with mcp(airlock.mcp_url, airlock.token("cole@example.com")) as session:
        copy_in = await call(session, "query", connection="pg-limit", sql="COPY t_copy FROM STDIN")
        assert copy_in["status"] == "error" and "use INSERT" in copy_in["error"]
        copy_out = await call(session, "query", connection="pg-limit", sql="COPY t_copy TO STDOUT")
        assert copy_out["status"] == "error" and "use SELECT" in copy_out["error"]
        after = await call(session, "query", connection="pg-limit", sql="SELECT n FROM t_copy")
        assert after["rows"] == [["1"]]
    assert await _count(airlock, "t_copy") == 1


async def test_a_write_over_the_row_limit_is_counted_and_held(airlock: Airlock) -> None:
    """On a connection with max_rows_unreviewed, an allowed filtered write the database counts
    above the limit is held with its count; one within it runs."""
    await _table(airlock, "t_limit")
    async with mcp(airlock.mcp_url, airlock.token("lou@example.com")) as session:
        held = await call(session, "query", connection="pg-limit",
                          sql="DELETE FROM t_limit WHERE n IN ($1, $2)", params=[1, 2])  # fmt: skip
        assert held["status"] == "held" and held["impact"]["rows"] == 2
        assert "max_rows_unreviewed" in held["reason"]
        ran = await call(session, "query", connection="pg-limit",
                         sql="DELETE FROM t_limit WHERE n = $1", params=[3])  # fmt: skip
        assert ran["status"] == "ok" and ran["command"] == "DELETE 1"
    assert await _count(airlock, "t_limit") == 2


async def test_two_concurrent_resends_run_once(airlock: Airlock) -> None:
    """Two identical re-sends at once after one approval: one runs, the other is held anew."""
    await _table(airlock, "t_race")
    sql = "DELETE FROM t_race"
    token = _agent_token(airlock)
    async with mcp(airlock.mcp_url, token) as one, mcp(airlock.mcp_url, token) as two:
        held = await call(one, "query", connection="pg-prod", sql=sql)
        assert await airlock.decide("bob@example.com", held["review_id"], "approve") == 200
        answers = await asyncio.gather(
            call(one, "query", connection="pg-prod", sql=sql),
            call(two, "query", connection="pg-prod", sql=sql),
        )
    assert sorted(a["status"] for a in answers) == ["held", "ok"]


async def test_an_approval_while_waiting_runs_the_call(airlock: Airlock) -> None:
    """With wait_seconds, an approval that comes meanwhile runs the statement in the call."""
    await _table(airlock, "t_wait")
    async with mcp(airlock.mcp_url, airlock.token("wes@example.com")) as session:
        waiting = asyncio.create_task(
            call(session, "query", connection="pg-prod", sql="TRUNCATE t_wait", wait_seconds=30)
        )
        review_id = await _pending(airlock, "TRUNCATE t_wait")
        assert await airlock.decide("bob@example.com", review_id, "approve") == 200
        answer = await waiting
    assert answer["status"] == "ok" and answer["review_id"] == review_id
    assert await _count(airlock, "t_wait") == 0


async def test_a_denial_carries_the_reason(airlock: Airlock) -> None:
    """A denial comes back with the approver and their reason, and nothing runs."""
    await _table(airlock, "t_deny")
    async with mcp(airlock.mcp_url, airlock.token("dan@example.com")) as session:
        waiting = asyncio.create_task(
            call(session, "query", connection="pg-prod", sql="DELETE FROM t_deny",
                 wait_seconds=30)
        )  # fmt: skip
        review_id = await _pending(airlock, "DELETE FROM t_deny")
        reason = "not during business hours"
        assert await airlock.decide("bob@example.com", review_id, "deny", reason) == 200
        answer = await waiting
        assert answer["status"] == "denied"
        assert answer["error"] == f"denied by bob@example.com: {reason}"
        waited = await call(session, "wait_for_review", review_id=review_id, timeout_seconds=1)
        assert waited["status"] == "denied" and reason in waited["error"]
    assert await _count(airlock, "t_deny") == 3


async def test_request_access_makes_a_review_then_a_delegation(airlock: Airlock) -> None:
    """request_access files a review; its approval makes a delegation the next query uses."""
    async with mcp(airlock.mcp_url, airlock.token("dave@example.com")) as session:
        refused = await call(session, "query", connection="pg-req", sql="SELECT 1")
        assert refused["is_error"] and "refused" in refused["text"]
        asked = await call(session, "request_access", connection="pg-req", duration="1h",
                           reason="INC-42: look at the customers")  # fmt: skip
        assert asked["status"] == "pending" and asked["kind"] == "access"
        assert await airlock.decide("bob@example.com", asked["review_id"], "approve") == 200
        async with airlock.api(airlock.token("auditor@example.com", ("auditors",))) as api:
            found = await api.get("/v1/delegations", params={"subject": "dave@example.com"})
        assert [d["connection"] for d in found.json()] == ["pg-req"]
        ran = await call(session, "query", connection="pg-req", sql="SELECT 1 AS one")
        assert ran["status"] == "ok" and ran["rows"] == [["1"]]


async def test_a_revoked_identity_is_refused_on_its_next_call(airlock: Airlock) -> None:
    """Once a subject is revoked, its next call in the same MCP session is refused."""
    token = airlock.token("erin@example.com")
    async with mcp(airlock.mcp_url, token) as session:
        ok = await call(session, "query", connection="pg-prod", sql="SELECT 1")
        assert ok["status"] == "ok"
        async with airlock.api(airlock.token("root@example.com", ("airlock-admins",))) as api:
            body = {"subject": "erin@example.com", "reason": "left the company"}
            assert (await api.post("/v1/revocations/subjects", json=body)).status_code == 201
        with pytest.raises(MCPError, match="error response"):
            await call(session, "query", connection="pg-prod", sql="SELECT 1")
    async with httpx.AsyncClient(timeout=10) as http:
        request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        answer = await http.post(airlock.mcp_url, json=request, headers=headers)
    assert answer.status_code == 401


async def test_an_exchanged_token_carries_the_chain(airlock: Airlock) -> None:
    """A service account's token exchanged for a person (RFC 8693 at /oauth/token) works at
    /mcp, and the call is recorded with the whole chain."""
    admin = airlock.token("root@example.com", ("airlock-admins",))
    async with airlock.api(admin) as api:
        made = await api.post("/v1/service-accounts", json={"name": "x-agent", "groups": ["eng"]})
        assert made.status_code == 201
        secret = made.json()["client_secret"]
        issued = await api.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("x-agent", secret)
        )
        exchange = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": airlock.token("xena@example.com"),
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "actor_token": issued.json()["access_token"],
            "actor_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }
        exchanged = await api.post("/oauth/token", data=exchange)
        assert exchanged.status_code == 200, exchanged.text
    async with mcp(airlock.mcp_url, exchanged.json()["access_token"]) as session:
        ran = await call(session, "query", connection="pg-prod", sql="SELECT 'exchanged'")
    assert ran["status"] == "ok"

    async def recorded() -> bool:
        events = await airlock.audit()
        return any(e["details"].get("session_id") == ran["session_id"] for e in events)

    await airlock.eventually(recorded)
    event = next(
        e for e in await airlock.audit() if e["details"].get("session_id") == ran["session_id"]
    )
    assert event["actor_chain"] == ["xena@example.com", "x-agent"]


async def test_a_revocation_ends_a_running_call(airlock: Airlock) -> None:
    """A subject revoked while its query runs: the call ends within seconds, saying so, and
    its statement is cancelled upstream."""
    # Allowed, and half a minute long here. Streamed (a set-returning function in the select
    # list), not a FROM-clause series, which PostgreSQL first materialises into temporary
    # files: the cancel then waited on the disk under a loaded CI run.
    long = "SELECT count(*) FROM (SELECT generate_series(1, 1000000000)) s"
    running = (
        "SELECT count(*) AS c FROM pg_stat_activity WHERE state = 'active' "
        f"AND application_name = 'airlock-mcp' AND query = '{long}'"
    )
    async with mcp(airlock.mcp_url, airlock.token("rita@example.com")) as session:
        await session.list_tools()  # the client checks answers against these: asked before
        task = asyncio.create_task(call(session, "query", connection="pg-prod", sql=long))

        async def sleeping() -> bool:
            return int((await airlock.sql(running))[0]["c"]) == 1

        await airlock.eventually(sleeping)
        async with airlock.api(airlock.token("root@example.com", ("airlock-admins",))) as api:
            body = {"subject": "rita@example.com", "reason": "compromised laptop"}
            revoked = time.monotonic()
            assert (await api.post("/v1/revocations/subjects", json=body)).status_code == 201
        answer = await asyncio.wait_for(task, 10)
        assert time.monotonic() - revoked < 3
    assert answer["status"] == "refused" and "revoked" in answer["error"]

    async def cancelled() -> bool:
        return int((await airlock.sql(running))[0]["c"]) == 0

    await airlock.eventually(cancelled, within=10)  # left alone it runs on for 18 s or more


async def test_missing_bad_and_expired_tokens_are_refused(airlock: Airlock) -> None:
    """No token, a bad one and an expired one are answered 401 naming the protected-resource
    metadata, which names Airlock, whose metadata names its token endpoint."""
    expired = airlock.tokens.mint(ALICE, groups=("eng",), ttl=timedelta(minutes=5),
                                  now=time.time() - 3600)  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    metadata_url = f"{airlock.api_url}/.well-known/oauth-protected-resource/mcp"
    async with httpx.AsyncClient(timeout=10) as http:
        for token in (None, "not-a-token", expired):
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            response = await http.post(airlock.mcp_url, json=body, headers={**headers, **auth})
            assert response.status_code == 401
            assert f'resource_metadata="{metadata_url}"' in response.headers["www-authenticate"]
        resource = (await http.get(metadata_url)).json()
        assert resource["resource"] == airlock.mcp_url
        issuer = resource["authorization_servers"]
        assert [url.rstrip("/") for url in issuer] == [airlock.api_url]
        server = await http.get(f"{airlock.api_url}/.well-known/oauth-authorization-server")
        assert server.json()["issuer"] == issuer[0]
        assert server.json()["token_endpoint"] == f"{airlock.api_url}/oauth/token"
    with pytest.raises(ExceptionGroup) as refused:  # the SDK's client stops at the 401
        async with mcp(airlock.mcp_url, expired):
            pass
    assert refused.group_contains(MCPError)


async def test_every_call_is_audited_and_sessions_list_them(airlock: Airlock) -> None:
    """Every tool call, refused ones too, is an mcp.call event with the whole chain, the tool,
    the connection, the redacted statement and the outcome; sessions list the MCP calls."""
    async with mcp(airlock.mcp_url, _agent_token(airlock)) as session:
        ran = await call(session, "query", connection="pg-prod",
                         sql="SELECT 1 AS audited WHERE 'pw' <> 'secret'")  # fmt: skip
        refused = await call(session, "query", connection="pg-nope", sql="SELECT 2")
        assert refused["is_error"]

    async def recorded() -> bool:
        events = await airlock.audit()
        return any(e["details"].get("session_id") == ran["session_id"] for e in events) and any(
            e["connection"] == "pg-nope" for e in events
        )

    await airlock.eventually(recorded)
    events = await airlock.audit()
    ok = next(e for e in events if e["details"].get("session_id") == ran["session_id"])
    assert ok["actor_chain"] == [ALICE, *CHAIN]
    assert ok["outcome"] == "ok" and ok["details"]["tool"] == "query"
    assert ok["connection"] == "pg-prod" and "audited" in ok["details"]["statement"]
    bad = next(e for e in events if e["connection"] == "pg-nope")
    assert bad["outcome"] == "refused" and bad["actor_chain"] == [ALICE, *CHAIN]
    async with airlock.api(airlock.token("auditor@example.com", ("auditors",))) as api:
        sessions = (await api.get("/v1/sessions", params={"connection": "pg-prod"})).json()
    mine = next(s for s in sessions if s["id"] == ran["session_id"])
    assert mine["chain"] == [ALICE, *CHAIN] and mine["stats"]["edge"] == "mcp"


async def _pending(airlock: Airlock, statement: str) -> str:
    """The id of the pending review of ``statement``, once it is there."""
    found: list[str] = []

    async def opened() -> bool:
        async with airlock.api(airlock.token("bob@example.com", ("dba",))) as api:
            reviews = (await api.get("/v1/reviews", params={"state": "pending"})).json()
        found[:] = [r["id"] for r in reviews if r.get("statement") == statement]
        return bool(found)

    await airlock.eventually(opened)
    return found[0]
