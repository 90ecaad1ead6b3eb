"""Cheap floods (issue 17, class 12): failed client-credentials attempts spend a bounded budget
per client id and in all, past which /oauth/token answers 429 slow_down without an scrypt and
without telling whether the id exists; scrypt work is bounded; while the OIDC issuer is down a
flood of tokens costs it one request per backoff step, and the tokens are refused clearly."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.errors import AuthError
from gateway.identity import OidcVerifier
from gateway.identity.throttle import Budget, SecretThrottle
from tests.harness import RunningGateway
from tests.identity.support import (
    Target,
    client_credentials,
    connect_error,
    create_account,
    identity_gateway,
)
from tests.support.oidc_issuer import OidcIssuer, User

BOB = User("u-bob", "bob@example.com", ("dba",))


def scrypts(gw: RunningGateway) -> int:
    return gw.runtime.identity.accounts.throttle.scrypt_runs


async def flood(gw: RunningGateway, ids: list[str], secret: str) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client_credentials(gw, i, secret) for i in ids)))


def tally(answers: list[httpx.Response]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for answer in answers:
        counts[answer.status_code] = counts.get(answer.status_code, 0) + 1
    return counts


async def test_failures_per_client_are_budgeted_alike_for_known_and_unknown_ids(
    tmp_path: Path, target: Target
) -> None:
    """Ten concurrent wrong secrets for ci-runner: three scrypts (401), seven 429 slow_down with
    Retry-After; an id that does not exist gets the very same answers; another account is not
    affected; after the window refills, the right secret works again."""
    budget = {"client_failures_per_client": "3", "client_failure_window": "6s"}
    async with identity_gateway(tmp_path, connections=[target.connection()], identity=budget) as gw:
        client, secret = await create_account(gw, "ci-runner")
        other, other_secret = await create_account(gw, "nightly")
        before = scrypts(gw)
        known = await flood(gw, [client] * 10, "alk_wrong")
        throttled = await client_credentials(gw, client, secret)
        assert scrypts(gw) - before == 3
        unknown = await flood(gw, ["no-such-client"] * 10, "alk_wrong")
        assert scrypts(gw) - before == 6
        fine = await client_credentials(gw, other, other_secret)
        await asyncio.sleep(2.2)  # 3 failures per 6 s: one more fits after 2 s
        again = await client_credentials(gw, client, secret)
    assert tally(known) == tally(unknown) == {401: 3, 429: 7}
    for answers in (known, unknown):
        slow = [a for a in answers if a.status_code == 429]
        assert {a.json()["error"] for a in slow} == {"slow_down"}
        assert all(int(a.headers["Retry-After"]) >= 1 for a in slow)
        assert {a.json()["error"] for a in answers if a.status_code == 401} == {"invalid_client"}
    bodies = {a.json()["error_description"] for a in known + unknown if a.status_code == 401}
    assert bodies == {"unknown client or wrong secret"}
    assert throttled.status_code == 429  # the budget is the id's, whoever spends it
    assert fine.status_code == 200, fine.text
    assert again.status_code == 200, again.text


async def test_the_global_budget_bounds_a_spray_of_ids(tmp_path: Path, target: Target) -> None:
    """Forty made-up ids, one attempt each: at most the global budget (5) of scrypts run;
    the rest are 429 before any lookup."""
    budget = {"client_failures": "5", "client_failure_window": "1m"}
    async with identity_gateway(tmp_path, connections=[target.connection()], identity=budget) as gw:
        before = scrypts(gw)
        ids = [f"spray-{secrets.token_hex(4)}" for _ in range(40)]
        answers = await flood(gw, ids, "alk_wrong")
        assert scrypts(gw) - before == 5
    assert tally(answers) == {401: 5, 429: 35}


async def test_concurrent_scrypts_are_bounded() -> None:
    """Sixteen secret checks at once run at most `concurrency` (2) scrypts at a time."""
    throttle = SecretThrottle(Budget(100, 60), Budget(100, 60), concurrency=2)
    running, peak, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    await asyncio.gather(*(throttle.run(work) for _ in range(16)))
    assert (peak, throttle.scrypt_runs) == (2, 16)


async def test_a_down_issuer_is_fetched_once_per_backoff_step(issuer: OidcIssuer) -> None:
    """Twenty concurrent tokens while the issuer answers 503: one discovery request, every
    token refused with "unavailable"; the next try waits retry_min, then twice that."""
    issuer.unavailable = True
    async with httpx.AsyncClient() as http:
        verifier = OidcVerifier(issuer.issuer, "airlock", http, retry_min=0.3, retry_max=5)

        async def wave() -> list[BaseException | object]:
            tokens = [issuer.token(BOB) for _ in range(20)]
            return list(
                await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
            )

        first = await wave()
        assert verifier.fetches == 1
        assert all(isinstance(e, AuthError) for e in first)
        assert sum("unavailable" in str(e) for e in first) == 19  # the one that fetched: 503
        await asyncio.sleep(0.35)
        await wave()
        assert verifier.fetches == 2  # retry_min passed: one more try, now backing off 0.6 s
        await asyncio.sleep(0.35)
        await wave()
        assert verifier.fetches == 2
        issuer.unavailable = False
        await asyncio.sleep(0.3)
        identity, _ = await verifier.verify(issuer.token(BOB))
        assert identity.subject == "bob@example.com"
        assert verifier.fetches == 4  # discovery and JWKS, once
        await wave()
        assert verifier.fetches == 4
    discovery = [p for _, p in issuer.requests if p == "/.well-known/openid-configuration"]
    assert len(discovery) == 3


async def test_tokens_flood_the_gateway_while_the_issuer_is_down(
    tmp_path: Path, issuer: OidcIssuer, target: Target
) -> None:
    """Through the real API and the PostgreSQL listener: 30 bearer requests and 10 connection
    attempts while the issuer is down cost it one request and are refused (401 / 28P01)."""
    issuer.unavailable = True
    settings = {"issuer_retry_min": "1m", "issuer_retry_max": "5m"}
    async with identity_gateway(
        tmp_path, issuer=issuer, connections=[target.connection()], identity=settings
    ) as gw:

        async def whoami() -> httpx.Response:
            async with gw.client(issuer.token(BOB)) as http:
                return await http.get("/v1/whoami")

        answers = await asyncio.gather(*(whoami() for _ in range(30)))
        refusals = await asyncio.gather(*(connect_error(gw, issuer.token(BOB)) for _ in range(10)))
        fetched = gw.runtime.identity.oidc.fetches if gw.runtime.identity.oidc else -1
    assert {a.status_code for a in answers} == {401}
    assert {code for code, _ in refusals} == {"28P01"}
    assert fetched == 1
    assert len([p for _, p in issuer.requests if p.startswith("/.well-known")]) == 1


@pytest.mark.parametrize("window", ["0s", "500ms"])
def test_a_window_below_a_second_is_refused(window: str, tmp_path: Path) -> None:
    """client_failure_window must allow a refill: zero is a configuration error."""
    from gateway.config import load_settings
    from gateway.errors import ConfigError

    path = tmp_path / "airlock.toml"
    path.write_text(f'[identity]\nclient_failure_window = "{window}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="client_failure_window"):
        load_settings(path)
