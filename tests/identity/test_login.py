"""``airlock login``: authorization code with PKCE on a loopback redirect, the device flow, the
token cached (0600) and used by the CLI when AIRLOCK_TOKEN is unset, refreshed when expired."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.identity import peek_claims
from gateway.identity.login import LoginConfig, LoginError, discover, login_pkce
from gateway.identity.token_cache import cache_path, cached_token, load_cache, save_cache
from tests.gateway.cli.support import airlock_in_thread
from tests.identity.support import Target, identity_gateway
from tests.support.oidc_issuer import OidcIssuer


def _browser(url: str) -> bool:
    """A browser that signs in at once: follow the issuer's redirect to the loopback."""
    httpx.get(url, follow_redirects=True, timeout=10).raise_for_status()
    return True


def test_pkce_login_returns_the_gateway_token(issuer: OidcIssuer) -> None:
    """The code flow with an S256 challenge ends with the access token for the gateway's
    audience (the issuer checked the verifier), its expiry and a refresh token."""
    config = LoginConfig(issuer.issuer, "airlock", "airlock")
    with httpx.Client() as http:
        metadata = discover(issuer.issuer, http)
    entry = login_pkce(config, metadata, open_browser=_browser, say=print, timeout=10)
    assert entry["issuer"] == issuer.issuer and entry["refresh_token"]
    claims = peek_claims(entry["token"])
    assert claims["aud"] == "airlock" and claims["email"] == "alice@example.com"
    assert entry["expires_at"] > time.time() + 60
    assert not issuer.codes  # the code was redeemed, once


def test_a_foreign_redirect_is_refused(issuer: OidcIssuer) -> None:
    """An answer on the loopback whose state is not ours ends the login with an error."""

    def forged(url: str) -> bool:
        redirect = dict(httpx.URL(url).params)["redirect_uri"]
        httpx.get(f"{redirect}?code=stolen&state=not-ours", timeout=10)
        return True

    config = LoginConfig(issuer.issuer, "airlock", "airlock")
    with httpx.Client() as http:
        metadata = discover(issuer.issuer, http)
    with pytest.raises(LoginError, match="state does not match"):
        login_pkce(config, metadata, open_browser=forged, say=print, timeout=10)


def test_the_cache_is_private_and_refreshes_an_expired_token(
    issuer: OidcIssuer, tmp_path: Path
) -> None:
    """The cache file is 0600 in a 0700 folder; an expired token is refreshed with its refresh
    token at the issuer, and the new one cached; without a refresh token it is not used."""
    answer = issuer._tokens(issuer.login_as, "openid")
    entry = {
        "token": issuer.token(exp=int(time.time()) - 10),
        "expires_at": time.time() - 10,
        "refresh_token": answer["refresh_token"],
        "token_endpoint": f"{issuer.url}/token",
        "client_id": "airlock",
        "audience": "airlock",
        "issuer": issuer.issuer,
    }
    path = save_cache(entry)
    assert path == cache_path() and path.is_relative_to(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    fresh = cached_token()
    assert fresh is not None and fresh != entry["token"]
    reloaded = load_cache()
    assert reloaded is not None and reloaded["token"] == fresh
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    save_cache({**entry, "refresh_token": None})
    assert cached_token() is None


async def test_cli_login_through_the_gateway_then_whoami_without_airlock_token(
    tmp_path: Path,
    issuer: OidcIssuer,
    target: Target,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`airlock login` asks the gateway where to sign in, signs in through the browser and
    caches the token; `airlock whoami` then works with AIRLOCK_TOKEN unset."""
    async with identity_gateway(tmp_path, issuer=issuer, connections=[target.connection()]) as gw:
        monkeypatch.setenv("AIRLOCK_URL", gw.api_url)
        monkeypatch.setattr("webbrowser.open", _browser)
        login = await airlock_in_thread(capsys, "login")
        assert login.code == 0, login.err
        assert f"signed in at {issuer.issuer}" in login.out
        who = await airlock_in_thread(capsys, "whoami")
        assert who.code == 0, who.err
        assert json.loads(who.out)["subject"] == "alice@example.com"
        assert (await airlock_in_thread(capsys, "logout")).code == 0
        after = await airlock_in_thread(capsys, "whoami")
        assert after.code == 2 and "airlock login" in after.err


async def test_cli_device_login(
    tmp_path: Path, issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`airlock login --device` shows a code, polls while it is pending, and caches the token
    once the user approved it elsewhere."""

    def approve_when_asked() -> None:
        for _ in range(500):
            if issuer.devices:
                device = next(iter(issuer.devices.values()))
                time.sleep(0.05)  # let the CLI see authorization_pending first
                issuer.approve_device(device.user_code)
                return
            time.sleep(0.01)

    approver = threading.Thread(target=approve_when_asked, daemon=True)
    approver.start()
    run = await airlock_in_thread(
        capsys, "login", "--device", "--issuer", issuer.issuer, "--client-id", "airlock"
    )
    await asyncio.to_thread(approver.join, 5)
    assert run.code == 0, run.err
    assert "enter the code" in run.out
    entry = load_cache()
    assert entry is not None and entry["issuer"] == issuer.issuer
    assert ("POST", "/device") in issuer.requests
