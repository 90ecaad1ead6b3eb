"""Clicks on the scheduler's messages: Keep / Revoke on a digest line, Keep all, Revoke all
unused, and Extend on an expiry notice.

Like the card's buttons: ack first, map the Slack user to a person, make one call to the
gateway API for them, and tell only the clicker when it is refused. The digest is not touched
here: the decision's ``digest.updated`` event redraws it from the store.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from approvals.subjects import same_subject
from bot.cards.digest import parse_button_value
from bot.cards.text import escape_short, format_duration
from bot.errors import BotError
from bot.slack.context import SlackContext, explain

__all__ = ["DigestActions"]


def _who(body: dict[str, Any]) -> tuple[str, str | None]:
    """(Slack user id, channel id) of a click."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(body["user"]["id"]), channel


class DigestActions:
    def __init__(self, ctx: SlackContext) -> None:
        self.ctx = ctx

    async def keep(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await self._decide(body, action, "keep")

    async def revoke(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await self._decide(body, action, "revoke")

    async def keep_all(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await self._decide(body, action, "keep_all")

    async def revoke_unused(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        await self._decide(body, action, "revoke_unused")

    async def _decide(self, body: dict[str, Any], action: dict[str, Any], what: str) -> None:
        user, channel = _who(body)
        try:
            digest_id, line = parse_button_value(str(action.get("value", "")))
        except ValueError:
            await self.ctx.tell(channel, user, "⚠️ That button is not one of Airlock's.")
            return
        try:
            email = await self.ctx.directory.email_for(user)
            await self.ctx.api.access_review_decision(digest_id, what, line, decider=email)
        except BotError as exc:
            await self.ctx.tell(channel, user, explain(exc))

    async def extend(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Ask for the grant again (its own length, within max_grant): a normal access request
        the approvers decide."""
        await ack()
        user, channel = _who(body)
        grant_id = str(action.get("value", ""))
        try:
            email = await self.ctx.directory.email_for(user)
            grant = await self.ctx.store.get_delegation(grant_id)
            conn = self.ctx.connections.get(grant.connection) if grant is not None else None
            if grant is None or conn is None or not same_subject(grant.subject, email):
                await self.ctx.tell(channel, user, "⚠️ Only the holder can extend this grant.")
                return
            length = min(grant.expires_at - grant.created_at, conn.max_grant)
            answer = await self.ctx.api.request_access(
                grant.connection,
                role=grant.role,
                duration=f"{int(length.total_seconds())}s",
                reason=f"extend grant {grant.id}: {grant.reason}"[:2000],
                requester=email,
            )
        except BotError as exc:
            await self.ctx.tell(channel, user, explain(exc))
            return
        review = escape_short(str(answer.get("id", "")), 100)
        await self.ctx.tell(
            channel,
            user,
            f"⏳ Asked for {format_duration(length)} more on "
            f"*{escape_short(grant.connection, 200)}*: review `{review}` waits for the approvers.",
        )
