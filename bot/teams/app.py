"""``POST /api/messages``: where Teams delivers activities to the bot (a router for the gateway's
FastAPI app).

Every request is verified first (:class:`bot.teams.auth.BotFrameworkAuth`: 401 without a bearer
token, 403 for a token not accepted, 503 when the signing keys cannot be read), and, when
``TEAMS_TENANT_ID`` is set, the activity must come from that tenant (403); a refused request
changes nothing. Then by activity type (Bot Framework "Activity schema"):

- ``invoke`` named ``adaptiveCard/action``: a card click, answered in the HTTP response
  (:class:`bot.teams.actions.CardActions`) within ``INVOKE_BUDGET_S``; Teams' client gives up
  after a few seconds, so a slower decision keeps running and the clicker is told so;
- ``message``: an ``access ...`` command (:class:`bot.teams.commands.TeamsCommands`),
  acknowledged with 200 at once and answered with a reply;
- anything else (conversation updates, reactions, ...): 200, ignored.

Redelivery: an activity id already seen in the same conversation (kept ``SEEN_TTL_S``) gets the
first answer again (an invoke) or nothing (a message), so a retried command files nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot.errors import InboundRefused
from bot.teams.actions import CardActions, message
from bot.teams.auth import BotFrameworkAuth
from bot.teams.commands import TeamsCommands

__all__ = ["INVOKE_BUDGET_S", "MAX_BODY", "TeamsBot", "messages_router"]

log = logging.getLogger("bot.teams")

INVOKE_BUDGET_S = 4.0
MAX_BODY = 256 * 1024
SEEN_TTL_S = 900.0
_SEEN_MAX = 10_000
_FAILED = message("⚠️ Airlock could not handle that click. Nothing was changed.")


class TeamsBot:
    """Dispatches verified activities (see the module docstring)."""

    def __init__(
        self,
        auth: BotFrameworkAuth,
        actions: CardActions,
        commands: TeamsCommands,
        *,
        tenant_id: str | None = None,
    ) -> None:
        self.auth, self.actions, self.commands, self.tenant_id = auth, actions, commands, tenant_id
        self._seen: OrderedDict[tuple[str, str], tuple[float, asyncio.Future[Any]]] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def handle(self, authorization: str | None, body: bytes) -> tuple[int, Any]:
        """(HTTP status, JSON answer or None) for one request."""
        try:
            activity = json.loads(body)
        except ValueError:
            return 400, None
        if not isinstance(activity, dict):
            return 400, None
        try:
            await self.auth.verify(authorization, activity)
        except InboundRefused as exc:
            log.warning("teams: refused an activity (%d): %s", exc.status, exc.message)
            return exc.status, None
        tenant = ((activity.get("channelData") or {}).get("tenant") or {}).get("id")
        if self.tenant_id and tenant != self.tenant_id:
            log.warning("teams: refused an activity from another tenant")
            return 403, None
        return await self._dispatch(activity)

    async def _dispatch(self, activity: Mapping[str, Any]) -> tuple[int, Any]:
        kind = activity.get("type")
        invoke = kind == "invoke" and activity.get("name") == "adaptiveCard/action"
        if not invoke and kind != "message":
            return 200, None
        key = (str((activity.get("conversation") or {}).get("id")), str(activity.get("id")))
        first, future = self._remember(key)
        if not first:
            return (200, await asyncio.shield(future)) if invoke else (200, None)
        if not invoke:
            future.set_result(None)
            self._spawn(self.commands.message(activity))
            return 200, None
        task = self._spawn(self.actions.invoke(activity))
        task.add_done_callback(lambda t: _settle(future, t))
        try:
            return 200, await asyncio.wait_for(asyncio.shield(task), INVOKE_BUDGET_S)
        except TimeoutError:
            log.warning("teams: a card action took longer than %.0fs", INVOKE_BUDGET_S)
            return 200, message("⏳ Airlock is still recording your click; the card updates.")
        except Exception:  # logged by _done; the clicker is told, nothing pretends
            return 200, _FAILED

    def _remember(self, key: tuple[str, str]) -> tuple[bool, asyncio.Future[Any]]:
        now = time.monotonic()
        while self._seen and (
            len(self._seen) > _SEEN_MAX or next(iter(self._seen.values()))[0] < now - SEEN_TTL_S
        ):
            self._seen.popitem(last=False)
        known = self._seen.get(key)
        if known is not None:
            return False, known[1]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._seen[key] = (now, future)
        return True, future

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("teams: handling an activity failed", exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _settle(future: asyncio.Future[Any], task: asyncio.Task[Any]) -> None:
    if future.done():
        return
    if task.cancelled() or task.exception() is not None:
        future.set_result(_FAILED)
    else:
        future.set_result(task.result())


def messages_router(bot: TeamsBot) -> APIRouter:
    router = APIRouter(tags=["teams"])

    @router.post("/api/messages", include_in_schema=False)
    async def messages(request: Request) -> Response:
        declared = request.headers.get("content-length") or "0"
        if not declared.isdigit() or int(declared) > MAX_BODY:
            return Response(status_code=413 if declared.isdigit() else 400)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        status, answer = await bot.handle(request.headers.get("authorization"), body)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if answer is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(answer, status_code=status)

    return router
