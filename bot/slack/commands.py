"""``/access`` (see :mod:`bot.commands` for the language), its request form, and App Home.

Every handler acks at once, then parses, makes one call (the gateway API for writes, the store
for reads) and answers privately through the command's ``response_url``.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from approvals import Identity
from bot.cards import card_from_review, render_slack
from bot.cards.text import escape_short
from bot.commands import (
    Help,
    ListAccess,
    RequestAccess,
    Revoke,
    Status,
    is_duration,
    parse_access,
)
from bot.errors import BotError
from bot.queries import may_see, overview
from bot.slack.context import SlackContext, explain, log
from bot.slack.views import (
    REQUEST_FIELDS,
    access_request_modal,
    home_view,
    overview_text,
    usage_text,
)

__all__ = ["AccessCommands"]


class AccessCommands:
    def __init__(self, ctx: SlackContext) -> None:
        self.ctx = ctx

    async def command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        parsed = parse_access(str(command.get("text") or ""))
        user, channel = str(command["user_id"]), command.get("channel_id")
        try:
            if isinstance(parsed, RequestAccess) and parsed.complete:
                await _private(respond, await self._request(user, channel, parsed))
            elif isinstance(parsed, RequestAccess):
                view = access_request_modal(parsed, channel)
                await self.ctx.slack.call("views.open", trigger_id=command["trigger_id"], view=view)
            elif isinstance(parsed, ListAccess):
                await _private(respond, await self._list(user))
            elif isinstance(parsed, Status):
                await respond(**await self._status(user, parsed.id), response_type="ephemeral")
            elif isinstance(parsed, Revoke):
                await _private(respond, await self._revoke(user, parsed))
            else:
                assert isinstance(parsed, Help)
                await _private(respond, usage_text(parsed.problem))
        except BotError as exc:
            await _private(respond, explain(exc))

    async def _request(self, user: str, channel: str | None, ask: RequestAccess) -> str:
        assert ask.connection and ask.duration and ask.reason
        email = await self.ctx.directory.email_for(user)
        review = await self.ctx.api.request_access(
            ask.connection, role=ask.role, duration=ask.duration, reason=ask.reason, requester=email
        )
        conn = self.ctx.connections.get(ask.connection)
        where = (conn.approvers.channel if conn else None) or "the approvers"
        return (
            f"✅ Requested access to *{escape_short(ask.connection, 80)}* for {ask.duration}: "
            f"review `{review['id']}` is waiting for approval in {escape_short(where, 80)}. "
            "You get a DM when it is decided."
        )

    async def _list(self, user: str) -> str:
        who = await self.ctx.directory.identity_for(user)
        now = self.ctx.clock.now()
        return overview_text(await overview(self.ctx.store, who, self.ctx.connections, now), now)

    async def _status(self, user: str, item: str) -> dict[str, Any]:
        who = await self.ctx.directory.identity_for(user)
        review = await self.ctx.store.get_review(item)
        if review is not None and may_see(who, review, self.ctx.connections.get(review.connection)):
            card = card_from_review(review, now=self.ctx.clock.now(), channel=None)
            return render_slack(card)
        grant = await self.ctx.store.get_delegation(item)
        if grant is not None and (
            grant.subject == who.subject or _owns(self.ctx, who, grant.connection)
        ):
            state = "active" if grant.active(self.ctx.clock.now()) else "ended"
            where = escape_short(grant.connection, 80)
            return {"text": f"🔑 Grant `{grant.id}` on *{where}* is {state}."}
        return {
            "text": f"⚠️ Nothing you may see has the id `{escape_short(item, 80)}`. (`not_found`)"
        }

    async def _revoke(self, user: str, revoke: Revoke) -> str:
        email = await self.ctx.directory.email_for(user)
        reason = revoke.reason or "given back from Slack"
        grant = await self.ctx.api.revoke(revoke.id, reason, revoker=email)
        where = escape_short(str(grant["connection"]), 80)
        return f"🔒 Grant `{grant['id']}` on *{where}* is revoked."

    async def request_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        """The access-request form: checked, acked, then sent to the API like the command."""
        values = view.get("state", {}).get("values", {})
        given = {key: _value(values, key) for key, *_ in REQUEST_FIELDS}
        if not is_duration(given["duration"] or ""):
            await ack(response_action="errors", errors={"duration": "Use e.g. 30m, 2h or 1d."})
            return
        await ack()
        user = str(body["user"]["id"])
        channel = json.loads(view.get("private_metadata") or "{}").get("channel")
        ask = RequestAccess(given["connection"], given["role"], given["duration"], given["reason"])
        try:
            text = await self._request(user, channel, ask) if ask.complete else usage_text()
        except BotError as exc:
            text = explain(exc)
        await self.ctx.tell(channel, user, text)

    async def home_opened(self, event: dict[str, Any]) -> None:
        """App Home: my pending approvals, my requests, my active grants (from the store)."""
        user = str(event["user"])
        try:
            who = await self.ctx.directory.identity_for(user)
            now = self.ctx.clock.now()
            view = home_view(await overview(self.ctx.store, who, self.ctx.connections, now), now)
            await self.ctx.slack.call("views.publish", user_id=user, view=view)
        except BotError as exc:
            log.warning("App Home for %s: %s", user, exc)


async def _private(respond: AsyncRespond, text: str) -> None:
    await respond(text=text, response_type="ephemeral")


def _value(values: dict[str, Any], key: str) -> str | None:
    raw = (values.get(key, {}).get(key) or {}).get("value")
    return str(raw).strip() or None if raw is not None else None


def _owns(ctx: SlackContext, who: Identity, connection: str) -> bool:
    conn = ctx.connections.get(connection)
    return conn is not None and who.subject in conn.owners.identities
