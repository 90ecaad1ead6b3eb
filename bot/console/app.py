"""The console chat: the approval cards on a page served by Airlock itself, at ``/chat``.

Routes (all under ``/chat``):

- ``GET /chat``: the page. Dev mode (``[chat] dev_mode``): every recent review's card and a
  picker to act as one of the configured ``[[people]]`` (``?as=<e-mail>``, kept in a cookie);
  otherwise a token login (kept in sessionStorage, sent as Bearer) and the cards that person
  may see.
- ``GET /chat/cards`` and ``/chat/cards/{id}``: the cards as JSON ``{review_id, state, html}``.
- ``GET /chat/events``: server-sent events, one ``card`` per change of a review the signed-in
  person may see (:func:`approvals.policy.may_see`: their requests, reviews they may approve or
  own, everything for auditors); with its HTML in dev mode, only the id otherwise (the page
  fetches the card with its token). Nobody signed in (token mode: no valid Bearer token; dev
  mode: no person picked) gets 401; a token revoked meanwhile ends the stream.
- ``POST /chat/decisions`` (the cards' form) and ``POST /chat/api/decisions`` (JSON): record a
  decision through the gateway API. Token mode: with the person's own token, so the API
  authenticates them exactly as for the CLI (revocation of every link, no agents) and the
  service applies the one decision policy. Dev mode: as a Slack click does (the bot's token, the
  picked person's e-mail as ``approver``; the service checks that person's revocation too).
  Both check the origin and the CSRF token (:mod:`bot.console.csrf`).

Tokens are checked by the gateway's authenticator (``authenticate``: signature, issuer,
revocation of the chain and the token), never by their signature alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse

from approvals import Clock, EventBus, Identity, Review, ReviewState, policy
from bot.api import AirlockApi
from bot.cards import card_from_review, render_html
from bot.config import ChatConfig
from bot.console.csrf import NONCE_COOKIE, Csrf, same_origin
from bot.console.page import render_page
from bot.delivery import REVIEW_TOPICS
from bot.errors import ApiRefused, BotError
from bot.people import People
from bot.queries import ReviewReader
from store import ALL_TOPICS

__all__ = ["AS_COOKIE", "Authenticate", "ConsoleChat", "Viewer"]

# A presented token → its holder, after the gateway's full check; None when refused.
Authenticate = Callable[[str], Awaitable[Identity | None]]

AS_COOKIE = "airlock_chat_as"
_RECENT = 50


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, status_code=self.status)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading or deciding: the person, and (token mode) the token they signed in with."""

    identity: Identity
    token: str | None = None


class ConsoleChat:
    def __init__(
        self,
        config: ChatConfig,
        store: ReviewReader,
        bus: EventBus,
        clock: Clock,
        api: AirlockApi,
        authenticate: Authenticate,
        csrf: Csrf | None = None,
    ) -> None:
        self.config, self.store, self.bus, self.clock = config, store, bus, clock
        self.api, self.authenticate = api, authenticate
        self.people = People(config.people)
        self.csrf = csrf or Csrf()
        self.closing = asyncio.Event()

    @property
    def url(self) -> str:
        return f"{(self.config.public_url or self.config.api_url).rstrip('/')}/chat"

    async def run(self, stop: asyncio.Event, say: Callable[[str], None]) -> None:
        """Announce the page, then wait; at ``stop`` end the live streams and the API client."""
        how = "dev mode: act as any configured person" if self.config.dev_mode else "token login"
        say(f"airlock: console chat on {self.url} ({how})")
        try:
            await stop.wait()
        finally:
            self.closing.set()
            await self.api.close()

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/chat", tags=["console chat"], include_in_schema=False)
        router.add_api_route("", self.page, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route("/cards", self.cards, methods=["GET"])
        router.add_api_route("/cards/{review_id}", self.card, methods=["GET"])
        router.add_api_route("/events", self.events, methods=["GET"])
        router.add_api_route("/decisions", self.decide_form, methods=["POST"])
        router.add_api_route("/api/decisions", self.decide_json, methods=["POST"])
        return router

    # -- reading --------------------------------------------------------------------------

    async def page(
        self, request: Request, as_: str | None = Query(None, alias="as"), notice: str | None = None
    ) -> Response:
        nonce = request.cookies.get(NONCE_COOKIE) or Csrf.new_nonce()
        acting = self._dev_person(as_ or request.cookies.get(AS_COOKIE))
        cards: list[str] = []
        if self.config.dev_mode:
            cards = [self._html(r, nonce) for r in await self._recent(None)]
        script_nonce = secrets.token_urlsafe(16)
        page = render_page(
            cards,
            csrf=self.csrf.token(nonce),
            nonce=script_nonce,
            dev_people=[p.email for p in self.people.entries] if self.config.dev_mode else None,
            acting_as=acting,
            notice=notice[:500] if notice else None,
        )
        response = HTMLResponse(page, headers=_page_headers(script_nonce))
        _cookie(response, NONCE_COOKIE, nonce)
        if acting and as_:
            _cookie(response, AS_COOKIE, acting)
        return response

    async def cards(self, request: Request) -> Response:
        try:
            viewer = await self._reader(request)
        except _Refused as refused:
            return refused.response()
        nonce = request.cookies.get(NONCE_COOKIE)
        reviews = await self._recent(viewer)
        return JSONResponse({"cards": [self._card_json(r, nonce) for r in reviews]})

    async def card(self, request: Request, review_id: str) -> Response:
        try:
            viewer = await self._reader(request)
            review = await self.store.get_review(review_id)
            if review is None or not self._visible(viewer, review):
                raise _Refused(404, "not_found", f"no review {review_id}")
        except _Refused as refused:
            return refused.response()
        return JSONResponse(self._card_json(review, request.cookies.get(NONCE_COOKIE)))

    async def events(self, request: Request) -> Response:
        """The signed-in person's stream (401 when nobody is signed in)."""
        try:
            viewer = await self._signed_in(request)
        except _Refused as refused:
            return refused.response()
        nonce = request.cookies.get(NONCE_COOKIE)
        return EventSourceResponse(self._stream(viewer, nonce), ping=15)

    async def _stream(self, viewer: Viewer, nonce: str | None) -> AsyncIterator[dict[str, str]]:
        async with self.bus.subscribe(ALL_TOPICS) as subscription:
            yield {"event": "ready", "data": "{}"}
            while True:
                event = await _next_or_none(subscription.get(), self.closing)
                if event is None:
                    return
                if event.topic not in REVIEW_TOPICS:
                    continue
                review = await self.store.get_review(event.key)
                if review is None:
                    continue
                if viewer.token is not None and await self.authenticate(viewer.token) is None:
                    return  # revoked (or expired) since the stream began
                if not self._visible(viewer.identity, review):
                    continue
                data: dict[str, Any] = {"review_id": review.id, "state": review.state.value}
                if self.config.dev_mode:
                    data["html"] = self._html(review, nonce)
                yield {"event": "card", "data": json.dumps(data)}

    # -- deciding -------------------------------------------------------------------------

    async def decide_form(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            review_id, outcome = self._checked(request, form, form.get("csrf_token"))
            notice = await self._decide(request, form, review_id, outcome)
        except _Refused as refused:
            if refused.status in (400, 401, 403) and refused.code.startswith("csrf"):
                return refused.response()
            notice = f"⚠️ {refused.message} ({refused.code})"
        return RedirectResponse(f"/chat?notice={quote(notice)}", status_code=303)

    async def decide_json(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _Refused(422, "invalid_request", "a JSON object is expected").response()
        try:
            review_id, outcome = self._checked(request, body, request.headers.get("x-csrf-token"))
            notice = await self._decide(request, body, review_id, outcome)
        except _Refused as refused:
            return refused.response()
        review = await self.store.get_review(review_id)
        state = review.state.value if review else None
        return JSONResponse({"ok": True, "message": notice, "review_id": review_id, "state": state})

    def _checked(self, request: Request, data: dict[str, Any], token: Any) -> tuple[str, str]:
        if not same_origin(request, self.config.public_url):
            raise _Refused(403, "csrf_origin", "cross-origin requests are refused")
        if not self.csrf.valid(request.cookies.get(NONCE_COOKIE), str(token or "") or None):
            raise _Refused(403, "csrf_token", "missing or wrong CSRF token; reload /chat")
        review_id, outcome = str(data.get("review_id") or ""), str(data.get("action") or "")
        if not review_id or outcome not in ("approve", "deny"):
            raise _Refused(422, "invalid_request", "review_id and action (approve|deny) needed")
        return review_id, outcome

    async def _decide(
        self, request: Request, data: dict[str, Any], review_id: str, outcome: str
    ) -> str:
        actor = await self._actor(request, data.get("as"))
        reason = str(data.get("reason") or "").strip() or None
        try:
            if actor.token is not None:  # the person's own token: the API checks them fully
                await self.api.decide(review_id, outcome, reason, token=actor.token)
            else:  # dev mode: the picked person, named by the bot
                await self.api.decide(review_id, outcome, reason, approver=actor.identity.subject)
        except ApiRefused as exc:
            raise _Refused(exc.status, exc.code, exc.message) from exc
        except BotError as exc:
            raise _Refused(503, exc.code, exc.message) from exc
        verb = "approved" if outcome == "approve" else "denied"
        return f"✅ {actor.identity.subject} {verb} review {review_id}"

    # -- who ------------------------------------------------------------------------------

    def _dev_person(self, email: Any) -> str | None:
        if not self.config.dev_mode or not isinstance(email, str) or not email:
            return None
        found = self.people.by_email(email)
        return found[0].email if len(found) == 1 else None

    async def _actor(self, request: Request, claimed: Any) -> Viewer:
        if self.config.dev_mode:
            email = self._dev_person(claimed or request.cookies.get(AS_COOKIE))
            if email is None:
                raise _Refused(401, "unknown_person", "pick a configured person to act as")
            return Viewer(self.people.identity(email))
        return await self._signed_in(request)

    async def _signed_in(self, request: Request) -> Viewer:
        """The person behind this request: token mode, the holder of a valid Bearer token;
        dev mode, the configured person picked on the page. 401 otherwise."""
        if self.config.dev_mode:
            email = self._dev_person(request.cookies.get(AS_COOKIE))
            if email is None:
                raise _Refused(401, "unknown_person", "pick a configured person to act as")
            return Viewer(self.people.identity(email))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        identity = await self.authenticate(token) if scheme.lower() == "bearer" and token else None
        if identity is None:
            raise _Refused(401, "unauthenticated", "sign in with your Airlock token")
        return Viewer(identity, token)

    async def _reader(self, request: Request) -> Identity | None:
        """Who reads the cards; None in dev mode (everyone sees every card there)."""
        if self.config.dev_mode:
            return None
        return (await self._signed_in(request)).identity

    def _visible(self, viewer: Identity | None, review: Review) -> bool:
        if viewer is None:
            return True
        conn = self.config.connections.get(review.connection)
        auditor = bool(self.config.auditor_groups & viewer.groups)
        return policy.may_see(viewer, review, conn, auditor=auditor)

    async def _recent(self, viewer: Identity | None) -> list[Review]:
        reviews = [
            r for r in await self.store.list_reviews(limit=_RECENT) if self._visible(viewer, r)
        ]
        return sorted(reviews, key=lambda r: r.state is not ReviewState.PENDING)

    def _html(self, review: Review, nonce: str | None) -> str:
        channel = self.config.channel_for(review.connection)
        card = card_from_review(review, now=self.clock.now(), channel=channel)
        token = self.csrf.token(nonce) if nonce else None
        return render_html(card, form_action="/chat/decisions", csrf_token=token)

    def _card_json(self, review: Review, nonce: str | None) -> dict[str, Any]:
        html = self._html(review, nonce)
        return {"review_id": review.id, "state": review.state.value, "html": html}


def _cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", path="/chat")


def _page_headers(nonce: str) -> dict[str, str]:
    policy = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


async def _next_or_none(get: Any, closing: asyncio.Event) -> Any:
    """The next bus event, or None once ``closing`` is set."""
    waiter = asyncio.ensure_future(get)
    closer = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({waiter, closer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, closer):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return waiter.result() if waiter.done() and not waiter.cancelled() else None
