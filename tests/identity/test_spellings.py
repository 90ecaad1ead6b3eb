"""One person, one spelling: gateway tokens, OIDC tokens and revocations name a person in any
capitals, and the gateway treats them as one (self-approval, quorum, grants, revocation); an
OIDC e-mail names the person only when ``email_verified`` is JSON true. Real gateway, psql and
the test OIDC issuer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from approvals import Identity
from tests.harness import RunningGateway
from tests.identity.support import ADMIN, Target, connect_error, identity_gateway, psql
from tests.support.oidc_issuer import OidcIssuer, User


@pytest.fixture
async def gw(tmp_path: Path, issuer: OidcIssuer, target: Target) -> AsyncIterator[RunningGateway]:
    """pg-test (standing, eng), pg-req (on request) and pg-two (two approvals) on ``t``."""
    connections = [
        target.connection("pg-test"),
        target.connection("pg-req", access="request"),
        target.connection("pg-two", approvers={"groups": ["dba"], "quorum": 2}),
    ]
    async with identity_gateway(tmp_path, connections=connections, issuer=issuer) as running:
        yield running


async def _whoami(gw: RunningGateway, token: str) -> dict[str, Any]:
    async with gw.client(token) as http:
        answer = await http.get("/v1/whoami")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _decide(gw: RunningGateway, token: str, review_id: str) -> httpx.Response:
    async with gw.client(token) as http:
        return await http.post(f"/v1/reviews/{review_id}/decisions", json={"outcome": "approve"})


@pytest.mark.parametrize("verified", ["true", 1, None, False, "yes"])
async def test_an_unverified_email_never_names_the_person(
    gw: RunningGateway, issuer: OidcIssuer, verified: object
) -> None:
    """With email_verified "true", 1, missing, false or "yes" the subject is the issuer's
    `sub` and no e-mail is taken; so such a token cannot pass for bob@example.com."""
    user = User("u-mallory", "bob@example.com", ("dba",))
    who = await _whoami(gw, issuer.token(user, email_verified=verified))
    assert (who["subject"], who["email"]) == ("u-mallory", None)


async def test_a_verified_email_names_the_person_in_one_spelling(
    gw: RunningGateway, issuer: OidcIssuer
) -> None:
    """email_verified JSON true: the e-mail, in capitals at the IdP, is the canonical subject."""
    user = User("u-bob", "Bob@Example.COM", ("dba",))
    who = await _whoami(gw, issuer.token(user))
    assert (who["subject"], who["email"]) == ("bob@example.com", "bob@example.com")


async def test_a_requester_cannot_approve_in_other_capitals(
    gw: RunningGateway, issuer: OidcIssuer
) -> None:
    """alice@example.com's held statement: Alice@Example.COM (an OIDC token, in dba) and
    ALICE@EXAMPLE.COM (a gateway token) are both refused as self-approval; nothing changes."""
    requester = Identity("alice@example.com", groups=frozenset({"eng"}))
    review = await gw.runtime.service.hold_statement(
        requester, "pg-test", "DROP TABLE t", risk="high", rule="ddl-destroy"
    )
    tokens = [
        issuer.token(User("u-alice", "Alice@Example.COM", ("dba",))),
        gw.token("ALICE@EXAMPLE.COM", ["dba"]),
    ]
    for token in tokens:
        answer = await _decide(gw, token, review.id)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "self_approval")
    stored = await gw.runtime.repository.get_review(review.id)
    assert stored is not None and (stored.state.value, stored.decisions) == ("pending", ())


async def test_one_person_counts_once_toward_a_quorum(
    gw: RunningGateway, issuer: OidcIssuer
) -> None:
    """On a two-approval connection bob@example.com approves; BOB@Example.com (gateway token),
    Bob@example.com (OIDC) and the full-width spelling of bob@example.com are
    `already_voted`, and the
    review stays pending with one approval until erin approves."""
    requester = Identity("alice@example.com", groups=frozenset({"eng"}))
    review = await gw.runtime.service.hold_statement(
        requester, "pg-two", "DROP TABLE t", risk="high", rule="ddl-destroy"
    )
    first = await _decide(gw, gw.token("bob@example.com", ["dba"]), review.id)
    assert first.json()["approvals"] == 1
    again = [
        gw.token("BOB@Example.com", ["dba"]),
        issuer.token(User("u-bob", "Bob@example.com", ("dba",))),
        gw.token("\uff42\uff4f\uff42@example.com", ["dba"]),
    ]
    for token in again:
        answer = await _decide(gw, token, review.id)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "already_voted")
    stored = await gw.runtime.repository.get_review(review.id)
    assert stored is not None and stored.state.value == "pending"
    assert [d.approver.subject for d in stored.decisions] == ["bob@example.com"]
    final = await _decide(gw, gw.token("erin@example.com", ["dba"]), review.id)
    assert (final.json()["state"], final.json()["approvals"]) == ("approved", 2)


async def test_a_grant_and_a_revocation_reach_every_spelling(
    gw: RunningGateway, target: Target
) -> None:
    """Alice@Example.com asks for pg-req and bob approves: alice@example.com's psql reads t
    with that grant. Then an admin revokes ALICE@example.com: the lower-case token is refused
    by the API (401) and the listener (28P01)."""
    async with gw.client(gw.token("Alice@Example.com", ["eng"])) as http:
        body = {"connection": "pg-req", "duration": "1h", "reason": "INC-11"}
        asked = (await http.post("/v1/access-requests", json=body)).json()
    assert (await _decide(gw, gw.token("bob@example.com", ["dba"]), asked["id"])).is_success
    alice = gw.token("alice@example.com", ["eng"])
    code, out, err = await psql(gw, alice, "SELECT count(*) FROM t", connection="pg-req")
    assert (code, out.strip()) == (0, "3"), err
    async with gw.client(gw.token(*ADMIN)) as http:
        revoked = await http.post(
            "/v1/revocations/subjects", json={"subject": "ALICE@example.com", "reason": "left"}
        )
    assert revoked.status_code == 201, revoked.text
    async with gw.client(alice) as http:
        assert (await http.get("/v1/whoami")).status_code == 401
    sqlstate, _ = await connect_error(gw, alice, "pg-req")
    assert sqlstate == "28P01"
