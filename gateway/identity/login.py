"""``airlock login`` for people at a terminal: sign in at the OIDC issuer, cache the token.

- With a browser: the authorization code flow with PKCE (RFC 7636, S256) on a loopback
  redirect (RFC 8252 section 7.3: ``http://127.0.0.1:<free port>/callback``), through authlib's
  OAuth2 client. The ``state`` is checked; the code is redeemed once.
- Without one (``--device``, or over SSH): the device authorization grant (RFC 8628): the user
  opens the verification URI anywhere and types the code; the CLI polls the token endpoint at the
  interval the issuer asks for (``slow_down`` adds 5 s, section 3.5).

The issuer, client id and scopes come from the gateway (``GET /oauth/login-config``) unless
given on the command line; the issuer's endpoints from its discovery document.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]

from gateway.errors import GatewayError
from gateway.identity.token_cache import cache_entry

__all__ = ["LoginConfig", "LoginError", "discover", "login_device", "login_pkce"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
Say = Callable[[str], None]


class LoginError(GatewayError):
    code = "login_failed"


@dataclass(frozen=True)
class LoginConfig:
    issuer: str
    client_id: str
    audience: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")

    def about(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "audience": self.audience,
            "token_endpoint": metadata["token_endpoint"],
        }


def discover(issuer: str, http: httpx.Client) -> dict[str, Any]:
    """The issuer's OpenID Connect discovery document."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = http.get(url)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LoginError(f"cannot read {url}: {exc}") from exc
    if not isinstance(data, dict) or data.get("issuer") != issuer:
        raise LoginError(f"{url} does not describe the issuer {issuer}")
    return data


# -- authorization code + PKCE on a loopback redirect ------------------------------------------


class _Callback(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self.send_error(404)
            return
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.answers.put(params)
        body = b"Airlock: you are signed in; you may close this window.\n"
        if "error" in params:
            body = b"Airlock: sign-in failed; see the terminal.\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows our own messages only."""


class _CallbackServer(HTTPServer):
    answers: queue.Queue[dict[str, str]]


def login_pkce(
    config: LoginConfig,
    metadata: Mapping[str, Any],
    *,
    open_browser: Callable[[str], bool],
    say: Say,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Sign in through the browser; returns the cache entry (see ``token_cache``)."""
    server = _CallbackServer(("127.0.0.1", 0), _Callback)
    server.answers = queue.Queue()
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
        client = _oauth2_client()(
            config.client_id,
            scope=" ".join(config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",  # noqa: S106  (a public client: PKCE proves it)
        )
        verifier = generate_token(64)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier
        )
        if not open_browser(url):
            say(f"Open this address in a browser to sign in:\n  {url}")
        try:
            answer = server.answers.get(timeout=timeout)
        except queue.Empty:
            raise LoginError(f"no sign-in within {timeout:.0f}s") from None
        if "error" in answer:
            raise LoginError(f"sign-in failed: {answer.get('error_description', answer['error'])}")
        if answer.get("state") != state:
            raise LoginError("sign-in failed: the answer's state does not match (not ours)")
        try:
            token = client.fetch_token(
                metadata["token_endpoint"], code=answer.get("code"), code_verifier=verifier
            )
        except Exception as exc:  # authlib raises its own OAuthError or httpx errors
            raise LoginError(f"the identity provider refused the code: {exc}") from exc
        finally:
            client.close()
    finally:
        server.shutdown()
        server.server_close()
    return _entry(dict(token), config, metadata)


def _oauth2_client() -> Any:
    """authlib's httpx OAuth2 client class. authlib 1.9 warns on import that it would rather
    have the ``httpx2`` package; the ``httpx`` it falls back to is the one Airlock uses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]  # noqa: PLC0415
            OAuth2Client,
        )
    return OAuth2Client


# -- device authorization grant ------------------------------------------------------------


def login_device(
    config: LoginConfig,
    metadata: Mapping[str, Any],
    http: httpx.Client,
    *,
    say: Say,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Sign in with a code typed on another device; returns the cache entry."""
    endpoint = metadata.get("device_authorization_endpoint")
    if not endpoint:
        raise LoginError(f"{config.issuer} offers no device flow; sign in with a browser")
    form = {"client_id": config.client_id, "scope": " ".join(config.scopes)}
    start = _post(http, endpoint, form)
    if "device_code" not in start or "user_code" not in start:
        raise LoginError(f"the identity provider refused the device flow: {_why(start)}")
    where = start.get("verification_uri_complete") or start.get("verification_uri")
    say(f"To sign in, open {where} and enter the code {start['user_code']}")
    interval = float(start.get("interval", 5))
    deadline = time.monotonic() + float(start.get("expires_in", 600))
    poll = {"grant_type": DEVICE_GRANT, "device_code": start["device_code"], **form}
    while time.monotonic() < deadline:
        sleep(interval)
        answer = _post(http, metadata["token_endpoint"], poll)
        error = answer.get("error")
        if error is None:
            return _entry(answer, config, metadata)
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise LoginError(f"sign-in failed: {_why(answer)}")
    raise LoginError("the device code expired before sign-in finished")


def _post(http: httpx.Client, url: str, form: Mapping[str, str]) -> dict[str, Any]:
    try:
        data = http.post(url, data=dict(form)).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LoginError(f"cannot reach {url}: {exc}") from exc
    return data if isinstance(data, dict) else {"error": "invalid_response"}


def _why(answer: Mapping[str, Any]) -> str:
    return str(answer.get("error_description") or answer.get("error") or "no reason given")


def _entry(
    answer: dict[str, Any], config: LoginConfig, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        return cache_entry(answer, config.about(metadata))
    except ValueError as exc:
        raise LoginError(str(exc)) from exc
