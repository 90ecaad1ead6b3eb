"""A fake of the Bot Framework's login side, on loopback: what Teams' tokens are checked against
and where the bot gets its own. A stdlib HTTP server on 127.0.0.1 (a free port, its own thread)
serving, like ``login.botframework.com`` and ``login.microsoftonline.com`` do:

- ``GET /v1/.well-known/openidconfiguration``: the OpenID metadata (issuer, ``jwks_uri``, RS256);
- ``GET /v1/.well-known/keys``: the signing keys, each with its ``endorsements`` (the channels it
  may sign for): ``teams_key`` is endorsed for ``msteams``, ``webchat_key`` only for ``webchat``;
  ``rotate()`` replaces the Teams key;
- ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant (RFC 6749 section 4.4) for
  the registered app only (``client_id`` / ``client_secret`` form fields, scope
  ``https://api.botframework.com/.default``); anything else is 400/401 with an OAuth error.

``activity_token(...)`` signs a channel → bot token as the Bot Connector would, with any claim
replaced or (with None) dropped, and any key (a key not published forges one).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.loopback import Serving

__all__ = ["BOT_FRAMEWORK_ISSUER", "BOT_FRAMEWORK_SCOPE", "FakeTeamsLogin", "new_key"]

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
OPENID_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"


def new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


@dataclass
class FakeTeamsLogin:
    app_id: str = "00000000-0000-0000-0000-0000000a1c0c"
    app_password: str = field(default="fake-teams-app-password", repr=False)
    tenant_id: str = "00000000-0000-0000-0000-00000000cafe"
    token_ttl: int = 3600

    def __post_init__(self) -> None:
        self.teams_key = new_key()
        self.webchat_key = new_key()
        self.unavailable = False  # True: metadata and keys answer 503
        self.requests: list[tuple[str, str]] = []  # (method, path) in order
        self.issued: list[str] = []  # access tokens the token endpoint handed out
        self._serving: Serving | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeTeamsLogin:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
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
    def openid_url(self) -> str:
        """What AIRLOCK_TEAMS_OPENID_URL is set to."""
        return self.url + OPENID_PATH

    @property
    def login_url(self) -> str:
        """What AIRLOCK_TEAMS_LOGIN_URL is set to (the tenant's token endpoint)."""
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    def fetches(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if p == path)

    # -- keys and tokens ------------------------------------------------------------------

    def rotate(self) -> None:
        """Sign Teams' tokens with a new key from now on; the old key leaves the key set."""
        self.teams_key = new_key()

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com/v1/auth",
            "jwks_uri": self.url + KEYS_PATH,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def keys(self) -> dict[str, Any]:
        listed = []
        for key, endorsements in ((self.teams_key, ["msteams"]), (self.webchat_key, ["webchat"])):
            public = key.as_dict(private=False)
            public.update({"use": "sig", "endorsements": endorsements})
            listed.append(public)
        return {"keys": listed}

    def activity_token(
        self, service_url: str, *, key: RSAKey | None = None, **overrides: Any
    ) -> str:
        """A Bot Connector → bot token for an activity from ``service_url``; ``overrides``
        replace claims, or drop them when None."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": now,
            "exp": now + self.token_ttl,
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": self.app_id,
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        signer = key or self.teams_key
        return jwt.encode({"alg": "RS256", "kid": signer.kid, "typ": "JWT"}, claims, signer)

    def _client_token(self) -> str:
        now = int(time.time())
        claims = {
            "aud": BOT_FRAMEWORK_ISSUER,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "appid": self.app_id,
            "tid": self.tenant_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl,
            "jti": uuid.uuid4().hex,  # every token differs, as Entra's do
        }
        token = jwt.encode({"alg": "RS256", "kid": self.teams_key.kid}, claims, self.teams_key)
        with self._lock:
            self.issued.append(token)
        return token

    # -- requests -------------------------------------------------------------------------

    def handle(self, method: str, path: str, form: Mapping[str, str]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
        if method == "GET" and path in (OPENID_PATH, KEYS_PATH):
            if self.unavailable:
                return 503, {"error": "temporarily_unavailable"}
            return 200, self.metadata() if path == OPENID_PATH else self.keys()
        if method == "POST" and path == f"/{self.tenant_id}/oauth2/v2.0/token":
            return self._token(form)
        return 404, {"error": "not_found"}

    def _token(self, form: Mapping[str, str]) -> tuple[int, Any]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.app_password:
            return 401, {"error": "invalid_client"}
        if form.get("scope") != BOT_FRAMEWORK_SCOPE:
            return 400, {"error": "invalid_scope"}
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "ext_expires_in": self.token_ttl,
            "access_token": self._client_token(),
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTeamsLogin


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(*self.server.fake.handle("GET", self.path, {}))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        form: dict[str, str] = {}
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body))
        self._answer(*self.server.fake.handle("POST", self.path, form))

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        return
