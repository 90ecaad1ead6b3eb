"""Service accounts: created by admins, secrets stored hashed, the client credentials grant at
/oauth/token (client_secret_basic and client_secret_post), rotation, expiry and disabling."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from approvals import Identity, NotFound
from approvals.revocation import IDENTITY_REVOKED
from gateway.errors import OAuthError, UsageError
from gateway.identity import ServiceAccounts, TokenService, generate_key
from gateway.identity.client_secrets import check_secret, hash_secret
from store import IdentityStore, SqlRepository
from tests.approvals.fakes import FakeClock
from tests.identity.support import (
    ADMIN,
    Target,
    client_credentials,
    create_account,
    identity_gateway,
)

ROOT = Identity("root@example.com", groups=frozenset({"airlock-admins"}))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(generate_key())


@pytest.fixture
def accounts(repository: SqlRepository, tokens: TokenService, clock: FakeClock) -> ServiceAccounts:
    return ServiceAccounts(
        IdentityStore(repository), tokens, clock, connections={"pg-test", "pg-prod"}
    )


def test_secrets_are_salted_scrypt_hashes() -> None:
    """The same secret hashes differently each time; only the right secret matches."""
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert "s3cret" not in first
    assert check_secret("s3cret", first) and check_secret("s3cret", second)
    assert not check_secret("s3creT", first)
    assert not check_secret("s3cret", None)
    assert not check_secret("s3cret", "md5$whatever")


async def test_client_credentials_mint_a_service_token(
    accounts: ServiceAccounts, tokens: TokenService, clock: FakeClock
) -> None:
    """The right secret gets a short-lived token naming the account, its groups, its scope."""
    account, secret = await accounts.create("ci-runner", groups=["ci"], scope=["pg-test"], by=ROOT)
    assert secret.startswith("alk_") and account.created_by == "root@example.com"
    issued = await accounts.client_credentials("ci-runner", secret, None)
    identity, claims = tokens.verify(issued.access_token, now=clock.now().timestamp())
    assert (identity.subject, identity.kind.value) == ("ci-runner", "service")
    assert identity.groups == {"ci"} and identity.scope == frozenset({"pg-test"})
    assert issued.expires_in == 3600 and claims["exp"] - claims["iat"] == 3600
    for client, wrong in (("ci-runner", secret + "x"), ("nobody", secret)):
        with pytest.raises(OAuthError) as refused:
            await accounts.client_credentials(client, wrong, None)
        assert (refused.value.code, refused.value.status) == ("invalid_client", 401)


async def test_rotation_replaces_the_secret_at_once(
    accounts: ServiceAccounts, repository: SqlRepository
) -> None:
    """After a rotation the old secret is refused and the new one works; both are audited."""
    _, old = await accounts.create("ci-runner", groups=[], scope=None, by=ROOT)
    account, new = await accounts.rotate("ci-runner", by=ROOT)
    assert new != old and account.secret_rotated_at is not None
    with pytest.raises(OAuthError):
        await accounts.client_credentials("ci-runner", old, None)
    await accounts.client_credentials("ci-runner", new, None)
    actions = [e.action for e in await repository.list_audit(identity="root@example.com")]
    assert actions == ["service_account.created", "service_account.rotated"]
    with pytest.raises(NotFound):
        await accounts.rotate("nobody", by=ROOT)


async def test_secrets_and_accounts_expire(
    accounts: ServiceAccounts, tokens: TokenService, clock: FakeClock
) -> None:
    """A token never outlives its account; an expired secret or account gets no token, and a
    rotation renews an expired secret."""
    _, secret = await accounts.create(
        "nightly",
        groups=[],
        scope=None,
        by=ROOT,
        expires_in=timedelta(hours=3),
        secret_ttl=timedelta(minutes=20),
    )
    issued = await accounts.client_credentials("nightly", secret, None)
    assert issued.expires_in == 20 * 60  # capped by the secret's expiry
    clock.advance(timedelta(minutes=21))
    with pytest.raises(OAuthError, match="expired; rotate it"):
        await accounts.client_credentials("nightly", secret, None)
    _, secret = await accounts.rotate("nightly", by=ROOT, secret_ttl=timedelta(days=1))
    clock.advance(timedelta(hours=2, minutes=30))
    assert (await accounts.client_credentials("nightly", secret, None)).expires_in == 9 * 60
    clock.advance(timedelta(hours=1))
    with pytest.raises(OAuthError, match="service account nightly expired"):
        await accounts.client_credentials("nightly", secret, None)


async def test_requested_scope_only_narrows(accounts: ServiceAccounts) -> None:
    """A request may narrow the account's scope, never widen it."""
    _, secret = await accounts.create("agent", groups=[], scope=["pg-test"], by=ROOT)
    with pytest.raises(OAuthError) as refused:
        await accounts.client_credentials("agent", secret, frozenset({"pg-prod"}))
    assert refused.value.code == "invalid_scope"
    _, other = await accounts.create("unscoped", groups=[], scope=None, by=ROOT)
    narrowed = await accounts.client_credentials("unscoped", other, frozenset({"pg-prod"}))
    assert narrowed.scope == frozenset({"pg-prod"})


async def test_disabling_revokes_the_account(
    accounts: ServiceAccounts, repository: SqlRepository
) -> None:
    """A disabled account gets no token, its tokens stand revoked, and every replica is told."""
    _, secret = await accounts.create("agent", groups=[], scope=None, by=ROOT)
    async with repository.bus.subscribe(IDENTITY_REVOKED) as events:
        await accounts.disable("agent", "compromised", ROOT)
        event = await events.get()
    assert (event.key, event.payload["what"]) == ("agent", "service_account")
    with pytest.raises(OAuthError, match="disabled"):
        await accounts.client_credentials("agent", secret, None)
    reason = await accounts.store.revoked(["alice@example.com", "agent"], [])
    assert reason == "service account agent is disabled: compromised"


async def test_names_scopes_and_duplicates_are_checked(accounts: ServiceAccounts) -> None:
    """Names are lower-case without '@'; scopes name configured connections; names are unique."""
    for name in ("Alice", "alice@example.com", "x"):
        with pytest.raises(UsageError):
            await accounts.create(name, groups=[], scope=None, by=ROOT)
    with pytest.raises(UsageError, match="no connection named pg-nowhere"):
        await accounts.create("agent", groups=[], scope=["pg-nowhere"], by=ROOT)
    await accounts.create("agent", groups=[], scope=None, by=ROOT)
    with pytest.raises(UsageError, match="already exists"):
        await accounts.create("agent", groups=[], scope=None, by=ROOT)


# -- over HTTP --------------------------------------------------------------------------------


async def test_the_http_api_and_token_endpoint(tmp_path: Path, target: Target) -> None:
    """Admins create, list, rotate and disable; clients authenticate with Basic (form-encoded
    id and secret) or in the body, never both; errors are RFC 6749's."""
    async with identity_gateway(tmp_path, connections=[target.connection()]) as gw:
        async with gw.client(gw.token("alice@example.com", ["eng"])) as http:
            forbidden = await http.post("/v1/service-accounts", json={"name": "x1"})
        assert forbidden.status_code == 403
        client_id, secret = await create_account(gw, "ci.runner_1", ["ci"], expires_in="30d")
        assert (await client_credentials(gw, client_id, secret)).status_code == 200
        encoded = base64.b64encode(f"{quote(client_id)}:{quote(secret)}".encode()).decode()
        async with httpx.AsyncClient(base_url=gw.api_url) as raw:
            form = {"grant_type": "client_credentials"}
            basic = {"Authorization": f"Basic {encoded}"}
            assert (await raw.post("/oauth/token", data=form, headers=basic)).status_code == 200
            post = {**form, "client_id": client_id, "client_secret": secret}
            assert (await raw.post("/oauth/token", data=post)).status_code == 200
            both = await raw.post("/oauth/token", data=post, headers=basic)
            assert both.json()["error"] == "invalid_request"
            wrong = await raw.post("/oauth/token", data=form, auth=(client_id, "nope"))
            assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
            assert wrong.headers["www-authenticate"].startswith("Basic")
            grant = await raw.post("/oauth/token", data={"grant_type": "password"})
            assert grant.json()["error"] == "unsupported_grant_type"
            as_json = await raw.post("/oauth/token", json=form)
            assert as_json.json()["error"] == "invalid_request"
        async with gw.client(gw.token(*ADMIN)) as http:
            listed = (await http.get("/v1/service-accounts")).json()
            assert [a["name"] for a in listed] == ["ci.runner_1"]
            assert listed[0]["client_secret"] is None and listed[0]["expires_at"]
            rotated = await http.post(f"/v1/service-accounts/{client_id}/rotate", json={})
            new_secret = rotated.json()["client_secret"]
            assert (await client_credentials(gw, client_id, secret)).status_code == 401
            answer = await client_credentials(gw, client_id, new_secret)
            token = answer.json()["access_token"]
            disabled = await http.post(
                f"/v1/service-accounts/{client_id}/disable", json={"reason": "retired"}
            )
            assert disabled.json()["disable_reason"] == "retired"
        async with gw.client(token) as http:
            refused = await http.get("/v1/whoami")
        assert refused.status_code == 401
        assert refused.json()["error"]["message"] == (
            "access revoked: service account ci.runner_1 is disabled: retired"
        )
