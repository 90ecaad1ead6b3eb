"""A small OpenID Connect issuer for tests: a remote IdP we cannot run here, faked faithfully.

A stdlib HTTP server on 127.0.0.1 (a free port, its own thread, so synchronous CLI code can talk
to it while the gateway runs in the test's event loop) serving:

- ``/.well-known/openid-configuration``: discovery (issuer, endpoints, ``jwks_uri``);
- ``/jwks``: the public keys (RS256) it signs with; ``rotate()`` replaces the signing key;
- ``/authorize``: the authorization code flow with PKCE (S256 only, checked with authlib's
  ``create_s256_code_challenge``), auto-approving ``login_as`` and redirecting at once;
- ``/device``: the device authorization grant (RFC 8628); ``approve_device(user_code)``;
- ``/token``: ``authorization_code`` (code used once, redirect_uri and verifier checked),
  the device code grant (``authorization_pending`` until approved) and ``refresh_token``.

``token(...)`` mints a token directly, with any claim overridden (expired, wrong audience,
wrong issuer, an unknown key) for the refusal tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.loopback import Serving

__all__ = ["OidcIssuer", "User"]


@dataclass(frozen=True)
class User:
    sub: str
    email: str
    groups: tuple[str, ...] = ()


@dataclass
class _Pending:
    user: User
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str


@dataclass
class _Device:
    client_id: str
    scope: str
    user_code: str
    approved_as: User | None = None


@dataclass
class OidcIssuer:
    audience: str = "airlock"
    client_id: str = "airlock"
    login_as: User = field(default_factory=lambda: User("u-alice", "alice@example.com", ("eng",)))
    token_ttl: int = 300

    def __post_init__(self) -> None:
        self.key = self._new_key()
        self.jwks_fetches = 0
        self.codes: dict[str, _Pending] = {}
        self.devices: dict[str, _Device] = {}
        self.refresh_tokens: dict[str, User] = {}
        self.requests: list[tuple[str, str]] = []
        self.unavailable = False  # True: discovery and JWKS answer 503 (the issuer is down)
        self._serving: Serving | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> OidcIssuer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.issuer = self
        self._serving = Serving(server)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._serving is not None:
            self._serving.stop()

    @property
    def url(self) -> str:
        assert self._serving is not None
        return self._serving.origin

    @property
    def issuer(self) -> str:
        return self.url

    # -- keys and tokens ------------------------------------------------------------------

    @staticmethod
    def _new_key() -> RSAKey:
        key = RSAKey.generate_key(2048, private=True)
        key.ensure_kid()
        return key

    def rotate(self) -> None:
        """Sign with a new key from now on; the old key leaves the JWKS."""
        self.key = self._new_key()

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update({"use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def token(
        self,
        user: User | None = None,
        *,
        key: RSAKey | None = None,
        **overrides: Any,
    ) -> str:
        """An access token for ``user``; ``overrides`` replace or (with None) drop claims."""
        who = user or self.login_as
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": who.sub,
            "email": who.email,
            "email_verified": True,
            "groups": list(who.groups),
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl,
            "jti": generate_token(16),
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = key or self.key
        header = {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}
        return jwt.encode(header, claims, signer)

    def _tokens(self, user: User, scope: str) -> dict[str, Any]:
        refresh = generate_token(24)
        self.refresh_tokens[refresh] = user
        return {
            "access_token": self.token(user),
            "id_token": self.token(user, aud=self.client_id),
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "refresh_token": refresh,
            "scope": scope,
        }

    # -- the device flow's other half -------------------------------------------------------

    def approve_device(self, user_code: str, user: User | None = None) -> None:
        with self._lock:
            for device in self.devices.values():
                if device.user_code == user_code:
                    device.approved_as = user or self.login_as
                    return
        raise KeyError(user_code)

    # -- endpoints ------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "device_authorization_endpoint": f"{self.url}/device",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
        }

    def authorize(self, params: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        """The redirect (302 and Location) the browser would follow."""
        if params.get("client_id") != self.client_id or params.get("response_type") != "code":
            return 400, {}
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return 400, {}
        code = generate_token(24)
        self.codes[code] = _Pending(
            self.login_as,
            params["client_id"],
            params["redirect_uri"],
            params["code_challenge"],
            params.get("scope", ""),
        )
        query = urlencode({"code": code, "state": params.get("state", "")})
        return 302, {"Location": f"{params['redirect_uri']}?{query}"}

    def device(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        device_code, user_code = generate_token(32), generate_token(8).upper()
        with self._lock:
            self.devices[device_code] = _Device(form["client_id"], form.get("scope", ""), user_code)
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": f"{self.url}/activate",
            "expires_in": 600,
            "interval": 0,
        }

    def token_endpoint(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        if grant == "authorization_code":
            pending = self.codes.pop(form.get("code", ""), None)
            if pending is None or pending.redirect_uri != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}
            verifier = form.get("code_verifier", "")
            if create_s256_code_challenge(verifier) != pending.challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE mismatch"}
            return 200, self._tokens(pending.user, pending.scope)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            with self._lock:
                device = self.devices.get(form.get("device_code", ""))
                if device is None:
                    return 400, {"error": "expired_token"}
                if device.approved_as is None:
                    return 400, {"error": "authorization_pending"}
                del self.devices[form["device_code"]]
            return 200, self._tokens(device.approved_as, device.scope)
        if grant == "refresh_token":
            user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user is None:
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(user, "")
        return 400, {"error": "unsupported_grant_type"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    issuer: OidcIssuer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _json(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        issuer = self.server.issuer
        parts = urlsplit(self.path)
        issuer.requests.append(("GET", parts.path))
        if issuer.unavailable and parts.path in ("/.well-known/openid-configuration", "/jwks"):
            self._json(503, {"error": "temporarily_unavailable"})
        elif parts.path == "/.well-known/openid-configuration":
            self._json(200, issuer.discovery())
        elif parts.path == "/jwks":
            issuer.jwks_fetches += 1
            self._json(200, issuer.jwks())
        elif parts.path == "/authorize":
            status, headers = issuer.authorize(dict(parse_qsl(parts.query)))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        issuer = self.server.issuer
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        path = urlsplit(self.path).path
        issuer.requests.append(("POST", path))
        if path == "/token":
            self._json(*issuer.token_endpoint(form))
        elif path == "/device":
            self._json(*issuer.device(form))
        else:
            self._json(404, {"error": "not_found"})
