"""A fake Bot Connector (``smba.trafficmanager.net``) on loopback, enforcing what the real one
does to a bot's calls:

- every call needs ``Authorization: Bearer`` with a token the fake login service issued and
  that was not revoked since (``revoke_tokens()``): otherwise 401;
- an activity larger than ``MAX_ACTIVITY_BYTES`` (Teams' ~28 KB message limit, counted on the
  JSON body as sent) is 413 ``MessageSizeTooBig``; an Adaptive Card attachment must say
  ``"type": "AdaptiveCard"`` and a version Teams renders (≤ 1.5), and each ``Action.Execute``
  needs a ``verb``: otherwise 400 ``BadSyntax``;
- ``throttle(n, retry_after)`` answers the next ``n`` calls 429 with ``Retry-After``;
- the roster: ``GET /v3/conversations/{id}/members/{userId}`` answers the user set with
  ``add_member`` (404 for anyone else).

It records what was posted: ``cards`` (channel conversations opened by the bot, with their
current activity), ``replies`` (activities posted into a conversation), ``updates`` (PUTs) and
every request in ``requests``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.support.fake_teams.login import FakeTeamsLogin
from tests.support.loopback import Serving

__all__ = ["MAX_ACTIVITY_BYTES", "FakeBotConnector", "Posted", "TeamsUser"]

MAX_ACTIVITY_BYTES = 28 * 1024
_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")


@dataclass(frozen=True)
class TeamsUser:
    """A member of the tenant as the roster shows them."""

    id: str  # 29:...
    name: str
    email: str | None = None
    upn: str | None = None
    aad_object_id: str = ""
    role: str = "user"  # TeamsChannelAccount.userRole: user, guest, anonymous

    def roster(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "userRole": self.role,
        }
        if self.email is not None:
            entry["email"] = self.email
        if self.upn is not None:
            entry["userPrincipalName"] = self.upn
        return entry


@dataclass
class Posted:
    """One activity the bot posted: where, its id, and its current body."""

    conversation: str
    id: str
    activity: dict[str, Any]
    channel: str | None = None  # for a card opening a channel conversation
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier bodies (PUTs)
    at: float = field(default_factory=time.time)  # when it was posted (wall clock)

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                content = attachment.get("content")
                return content if isinstance(content, dict) else None
        return None

    @property
    def text(self) -> str:
        return json.dumps(self.activity, ensure_ascii=False)


class FakeBotConnector:
    def __init__(self, login: FakeTeamsLogin, users: tuple[TeamsUser, ...] = ()) -> None:
        self.login = login
        self.members: dict[str, TeamsUser] = {u.id: u for u in users}
        self.cards: list[Posted] = []
        self.replies: list[Posted] = []
        self.updates: list[tuple[str, str]] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.max_activity_bytes = MAX_ACTIVITY_BYTES
        self._revoked: set[str] = set()
        self._throttle: list[float] = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._serving: Serving | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeBotConnector:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._serving = Serving(server)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._serving is not None:
            self._serving.stop()

    @property
    def url(self) -> str:
        """What AIRLOCK_TEAMS_SERVICE_URL is set to."""
        assert self._serving is not None
        return self._serving.origin + "/"

    # -- test controls ----------------------------------------------------------------------

    def add_member(self, user: TeamsUser) -> None:
        self.members[user.id] = user

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as if it expired early)."""
        with self._lock:
            self._revoked.update(self.login.issued)

    def throttle(self, count: int, retry_after: float) -> None:
        with self._lock:
            self._throttle += [retry_after] * count

    def cards_in(self, channel: str) -> list[Posted]:
        with self._lock:
            return [p for p in self.cards if p.channel == channel]

    def thread(self, conversation: str) -> list[Posted]:
        with self._lock:
            return [p for p in self.replies if p.conversation == conversation]

    def personal(self, user_id: str) -> list[Posted]:
        return self.thread(f"a:{user_id}")

    def status_count(self, status: int) -> int:
        with self._lock:
            return sum(1 for *_, s in self.requests if s == status)

    # -- requests -----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        status, answer, extra = self._handle(method, path, headers, body)
        with self._lock:
            self.requests.append((method, path, status))
        return status, answer, extra

    def _handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        with self._lock:
            known = token in self.login.issued and token not in self._revoked
            pause = self._throttle.pop(0) if self._throttle and known else None
        if scheme.lower() != "bearer" or not known:
            return 401, _error("Unauthorized", "no valid bearer token"), {}
        if pause is not None:
            return 429, _error("TooManyRequests", "slow down"), {"Retry-After": f"{pause:g}"}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return 400, _error("BadSyntax", "not JSON"), {}
        if parts[:2] != ["v3", "conversations"]:
            return 404, _error("NotFound", path), {}
        return self._route(method, parts[2:], data, len(body))

    def _route(
        self, method: str, rest: list[str], data: Any, size: int
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "POST" and not rest:
            return self._create(data, size)
        if method == "POST" and len(rest) == 2 and rest[1] == "activities":
            return self._post(rest[0], data, size)
        if method == "PUT" and len(rest) == 3 and rest[1] == "activities":
            return self._put(rest[0], rest[2], data, size)
        if method == "GET" and len(rest) == 3 and rest[1] == "members":
            user = self.members.get(rest[2])
            if user is None:
                return 404, _error("MemberNotFoundInConversation", "no such member"), {}
            return 200, user.roster(), {}
        return 404, _error("NotFound", "/".join(rest)), {}

    def _create(self, data: Any, size: int) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(data, dict):
            return 400, _error("BadSyntax", "no body"), {}
        if not data.get("isGroup"):
            members = data.get("members") or []
            user = members[0].get("id") if members and isinstance(members[0], dict) else None
            if user not in self.members:
                return 404, _error("NotFound", "no such user"), {}
            return 201, {"id": f"a:{user}"}, {}
        channel = ((data.get("channelData") or {}).get("channel") or {}).get("id")
        activity = data.get("activity")
        problem = _problem(activity, size, self.max_activity_bytes)
        if not isinstance(channel, str) or problem is not None or not isinstance(activity, dict):
            return problem or (400, _error("BadSyntax", "no channel"), {})
        activity_id = str(next(self._ids))
        conversation = f"{channel};messageid={activity_id}"
        with self._lock:
            self.cards.append(Posted(conversation, activity_id, activity, channel))
        return 201, {"id": conversation, "activityId": activity_id}, {}

    def _post(self, conversation: str, data: Any, size: int) -> tuple[int, Any, dict[str, str]]:
        problem = _problem(data, size, self.max_activity_bytes)
        if problem is not None:
            return problem
        activity_id = str(next(self._ids))
        with self._lock:
            self.replies.append(Posted(conversation, activity_id, data))
        return 201, {"id": activity_id}, {}

    def _put(
        self, conversation: str, activity_id: str, data: Any, size: int
    ) -> tuple[int, Any, dict[str, str]]:
        problem = _problem(data, size, self.max_activity_bytes)
        if problem is not None:
            return problem
        with self._lock:
            for posted in (*self.cards, *self.replies):
                if posted.conversation == conversation and posted.id == activity_id:
                    posted.history.append(posted.activity)
                    posted.activity = data
                    self.updates.append((conversation, activity_id))
                    return 200, {"id": activity_id}, {}
        return 404, _error("ActivityNotFoundInConversation", "no such activity"), {}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _problem(activity: Any, size: int, limit: int) -> tuple[int, Any, dict[str, str]] | None:
    """Why Teams would refuse ``activity`` (None: it would not)."""
    if not isinstance(activity, dict) or activity.get("type") != "message":
        return 400, _error("BadSyntax", "an activity of type message is required"), {}
    if size > limit:
        return 413, _error("MessageSizeTooBig", f"{size} bytes > {limit}"), {}
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            continue
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard" or card.get("version") not in _VERSIONS:
            return 400, _error("BadSyntax", "not an Adaptive Card Teams renders"), {}
        if any(not a.get("verb") for a in _executes(card)):
            return 400, _error("BadSyntax", "Action.Execute without a verb"), {}
    return None


def _executes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "Action.Execute":
            found.append(node)
        for value in node.values():
            found += _executes(value)
    elif isinstance(node, list):
        for value in node:
            found += _executes(value)
    return found


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeBotConnector


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, extra = self.server.fake.handle(method, self.path, headers, body)
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        return
