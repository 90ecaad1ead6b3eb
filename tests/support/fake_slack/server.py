"""The fake Slack Web API server (see the package docstring), and Slack's request signing."""

from __future__ import annotations

import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fake_slack.limits import validate_blocks

__all__ = ["FakeSlack", "RecordedCall", "SlackUser", "sign_slack_request"]

_JSON_PARAMS = ("blocks", "view", "attachments", "users")
_ID = re.compile(r"[CGDU][A-Z0-9]{2,}")


def sign_slack_request(
    signing_secret: str, body: bytes | str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack sends with ``body``: v0 HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    raw = body.encode() if isinstance(body, str) else body
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), b"v0:" + stamp.encode() + b":" + raw, "sha256")
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


@dataclass(frozen=True, slots=True)
class SlackUser:
    """A workspace member as users.info reports it."""

    id: str
    name: str
    email: str | None = None
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One Web API call the fake answered: method, parsed arguments, token, and its answer."""

    method: str
    params: dict[str, Any]
    token: str | None
    status: int
    response: dict[str, Any]
    at: float = 0.0  # time.monotonic() when answered


class FakeSlack:
    """The fake Web API server. ``start()``/``stop()``, or use it as a (sync or async) context
    manager; ``base_url`` ends in ``/api/`` like ``https://slack.com/api/``."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-airlock-test-token",
        signing_secret: str = "airlock-test-signing-secret",
        app_token: str = "xapp-airlock-test-token",
        users: Iterable[SlackUser] = (),
        team_id: str = "T0AIRLOCK",
        bot_user_id: str = "U0AIRLOCKBOT",
        keep_alive: bool = False,
    ) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.socket_url: str | None = None  # what apps.connections.open answers (Socket Mode)
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.users = {user.id: user for user in users}
        # HTTP/1.1 with persistent connections, as Slack serves (HTTP/1.0, one request per
        # connection, unless asked: the benchmark asks, to see a client's connection reuse).
        self.keep_alive = keep_alive
        self.calls: list[RecordedCall] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, str] = {}
        self._triggers: dict[str, float | None] = {}
        self._used_triggers: set[str] = set()
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self._limited = 0
        self._retry_after = 1
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        handler = _KeepAliveHandler if self.keep_alive else _Handler
        server = _Server(("127.0.0.1", 0), handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeSlack:
        self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    # -- what tests set up and inspect ----------------------------------------------------

    def add_user(self, user: SlackUser) -> None:
        with self._lock:
            self.users[user.id] = user

    def rate_limit(self, calls: int, retry_after: int = 1) -> None:
        """Answer the next ``calls`` calls with HTTP 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._limited, self._retry_after = calls, retry_after

    def issue_trigger_id(self, ttl: float | None = 3.0) -> str:
        """A trigger id as an interaction payload carries it: views.open accepts it once, within
        ``ttl`` seconds (None: no expiry)."""
        with self._lock:
            trigger = f"{next(self._counter)}.{self.team_id}.trigger"
            self._triggers[trigger] = None if ttl is None else time.monotonic() + ttl
        return trigger

    def issue_response_url(self) -> str:
        """A response_url as an interaction payload carries it; what the bot posts there is kept
        in ``responses[url]`` (checked against the same limits, at most 5 posts)."""
        with self._lock:
            url = f"{self.base_url.removesuffix('/api/')}/response/{next(self._counter)}"
            self.responses[url] = []
        return url

    def snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        """A copy of ``messages`` ((channel id, ts) → message), safe to iterate while the
        server thread posts."""
        with self._lock:
            return dict(self.messages)

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def channel_id(self, channel: str) -> str:
        """The id Slack would answer for a channel name (``#dba-oncall``), user id or id."""
        with self._lock:
            return self._resolve(channel)

    def sign(self, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
        return sign_slack_request(self.signing_secret, body, timestamp)

    # -- serving (called from the handler thread) -----------------------------------------

    def _resolve(self, channel: str) -> str:
        """Ids pass through; a name (``#x``) or a user id (its DM) maps to a stable id."""
        if _ID.fullmatch(channel) and not channel.startswith("U"):
            return channel
        return self._allocate(channel.removeprefix("#"), "D" if _ID.fullmatch(channel) else "C")

    def _allocate(self, key: str, prefix: str) -> str:
        if key not in self._channels:
            self._channels[key] = f"{prefix}{len(self._channels) + 1:08d}"
        return self._channels[key]

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._counter):06d}"

    def handle(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        with self._lock:
            headers: dict[str, str] = {}
            if self._limited > 0:
                self._limited -= 1
                status, body = 429, {"ok": False, "error": "ratelimited"}
                headers["Retry-After"] = str(self._retry_after)
            elif token is None:
                status, body = 200, {"ok": False, "error": "not_authed"}
            elif not hmac.compare_digest(token, self._token_for(method)):
                status, body = 200, {"ok": False, "error": "invalid_auth"}
            else:
                handler = getattr(self, "_api_" + method.replace(".", "_"), None)
                body = handler(params) if handler else {"ok": False, "error": "unknown_method"}
                status = 200
            self.calls.append(RecordedCall(method, params, token, status, body, time.monotonic()))
            return status, body, headers

    def _token_for(self, method: str) -> str:
        """apps.connections.open takes the app-level token; every other method the bot token."""
        return self.app_token if method == "apps.connections.open" else self.bot_token

    def respond(self, url: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer a post to a response_url (no token: the URL is the credential)."""
        with self._lock:
            posted = self.responses.get(url)
            if posted is None or len(posted) >= 5:
                status, body = 404, {"ok": False, "error": "used_url"}
            else:
                status, body = 200, self._rejected(params) or {"ok": True}
                if body["ok"]:
                    posted.append(params)
            self.calls.append(RecordedCall("response_url", params, None, status, body))
            return status, body

    def _rejected(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        errors = validate_blocks(params)
        if not errors:
            return None
        code = "invalid_blocks"
        if errors[0].startswith("text:"):
            code = "no_text" if "no_text" in errors[0] else "msg_too_long"
        return {"ok": False, "error": code, "errors": errors,
                "response_metadata": {"messages": errors}}  # fmt: skip

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://airlock-test.slack.com/", "team": "Airlock Test",
                "user": "airlock", "team_id": self.team_id, "user_id": self.bot_user_id,
                "bot_id": "B0AIRLOCK"}  # fmt: skip

    def _api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if rejected := self._rejected(params):
            return rejected
        channel, ts = self._resolve(str(params["channel"])), self._ts()
        message: dict[str, Any] = {
            k: params[k] for k in ("text", "blocks", "thread_ts") if k in params
        }
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": {**message, "ts": ts}}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if not _ID.fullmatch(channel):
            return {"ok": False, "error": "channel_not_found"}
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        if rejected := self._rejected(params):
            return rejected
        message: dict[str, Any] = {k: params[k] for k in ("text", "blocks") if k in params}
        self.messages[(channel, ts)] = {**self.messages[(channel, ts)], **message}
        return {"ok": True, "channel": channel, "ts": ts, "text": params.get("text", "")}

    def _api_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if str(params.get("user", "")) not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        if rejected := self._rejected(params):
            return rejected
        return {"ok": True, "message_ts": self._ts()}

    def _api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = params.get("users") or params.get("user")
        members = users if isinstance(users, list) else str(users or "").split(",")
        members = sorted(str(m).strip() for m in members if str(m).strip())
        if not members:
            return {"ok": False, "error": "users_list_not_supplied"}
        if any(member not in self.users for member in members):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": self._allocate(",".join(members), "D")}}

    def _api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile = {"real_name": user.real_name, "display_name": user.name}
        if user.email is not None:
            profile["email"] = user.email
        return {"ok": True, "user": {"id": user.id, "team_id": self.team_id, "name": user.name,
                "real_name": user.real_name, "deleted": user.deleted, "is_bot": user.is_bot,
                "profile": profile}}  # fmt: skip

    def _api_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_url is None:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_url}

    def _api_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = str(params.get("email", "")).lower()
        for user in self.users.values():
            if user.email is not None and user.email.lower() == wanted and not user.deleted:
                return {"ok": True, "user": {"id": user.id, "team_id": self.team_id,
                        "name": user.name, "profile": {"email": user.email}}}  # fmt: skip
        return {"ok": False, "error": "users_not_found"}

    def _api_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user_id", ""))
        if user not in self.users:
            return {"ok": False, "error": "not_found"}
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        if rejected := self._rejected({"view": view}):
            return rejected
        self.home_views[user] = view
        return {"ok": True, "view": {**view, "id": f"V{next(self._counter):08d}"}}

    def _api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = str(params.get("trigger_id", ""))
        if trigger in self._used_triggers:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if trigger not in self._triggers:
            return {"ok": False, "error": "invalid_trigger_id"}
        deadline = self._triggers.pop(trigger)
        self._used_triggers.add(trigger)
        if deadline is not None and time.monotonic() > deadline:
            return {"ok": False, "error": "expired_trigger_id"}
        if rejected := self._rejected({"view": params.get("view")}):
            return rejected
        return {"ok": True, "view": {**params["view"], "id": f"V{next(self._counter):08d}"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlack


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _serve(self, raw: bytes) -> None:
        url = urlsplit(self.path)
        method = url.path.removeprefix("/api/")
        params: dict[str, Any] = dict(parse_qsl(url.query))
        try:
            params.update(self._body(raw))
        except ValueError:
            self._reply(200, {"ok": False, "error": "invalid_json"})
            return
        if url.path.startswith("/response/"):
            full = f"http://{self.headers.get('Host', '')}{url.path}"
            self._reply(*self.server.fake.respond(full, params))
            return
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or params.pop("token", None)
        self._reply(*self.server.fake.handle(method, params, token))

    def _body(self, raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        if self.headers.get("Content-Type", "").startswith("application/json"):
            decoded = json.loads(raw)
            if not isinstance(decoded, dict):
                raise ValueError("a JSON body must be an object")
            return decoded
        params: dict[str, Any] = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        for key in _JSON_PARAMS:
            if isinstance(params.get(key), str) and params[key][:1] in "[{":
                params[key] = json.loads(params[key])
        return params

    def _reply(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's record is ``FakeSlack.calls``."""


class _KeepAliveHandler(_Handler):
    """The same answers over HTTP/1.1 connections kept open between requests (TCP_NODELAY:
    the headers and the body go out in two writes, which Nagle's algorithm would hold back for
    the client's delayed ACK, ~40 ms, on a kept-alive connection)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
