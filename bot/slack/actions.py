"""Approve / Deny clicks on a card and the deny-reason modal.

Each handler acks first, then maps the Slack user to a person and makes one call to the gateway
API (the bot's token, the person's e-mail as ``approver``). The card is never touched here: the
decision's outbox event redraws it from the store. A refusal (self-approval, not an approver,
already decided, expired, already voted) is told to the clicker alone and changes nothing; so a
double click or a retried request is harmless.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from approvals import ApprovalError, Identity, Outcome, Review, policy
from bot.cards import REASON_ACTION_ID, REASON_BLOCK_ID, deny_reason_modal
from bot.errors import BotError
from bot.slack.context import SlackContext, explain

__all__ = ["DecisionActions"]


def _click(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str, str | None]:
    """(review id, Slack user id, channel id) of a button click."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(action.get("value", "")), str(body["user"]["id"]), channel


class DecisionActions:
    def __init__(self, ctx: SlackContext) -> None:
        self.ctx = ctx

    async def approve(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        review_id, user, channel = _click(body, action)
        try:
            email = await self.ctx.directory.email_for(user)
            await self.ctx.api.decide(review_id, Outcome.APPROVE.value, None, approver=email)
        except BotError as exc:
            await self.ctx.tell(channel, user, explain(exc))

    async def deny(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Open the reason modal, unless the clicker could not deny anyway."""
        await ack()
        review_id, user, channel = _click(body, action)
        try:
            who = await self.ctx.directory.identity_for(user)
        except BotError as exc:
            await self.ctx.tell(channel, user, explain(exc))
            return
        refusal = self._refusal(await self.ctx.store.get_review(review_id), who)
        if refusal is not None:
            await self.ctx.tell(channel, user, refusal)
            return
        try:
            view = deny_reason_modal(review_id)
            await self.ctx.slack.call("views.open", trigger_id=body["trigger_id"], view=view)
        except (BotError, ValueError) as exc:
            await self.ctx.tell(channel, user, f"⚠️ Could not open the reason form: {exc}")

    def _refusal(self, review: Review | None, who: Identity) -> str | None:
        """Why ``who`` cannot deny ``review`` now, by the domain's own policy; None if they can.
        (The API checks again when the reason arrives: this only spares a useless form.)"""
        if review is None or review.connection not in self.ctx.connections:
            return "⚠️ Airlock does not know that review. (`not_found`)"
        if review.is_final or self.ctx.clock.now() >= review.expires_at:
            state = review.state.value if review.is_final else "expired"
            return f"⚠️ Too late: review `{review.id}` is already {state}. (`already_decided`)"
        try:
            policy.check_decision(
                review, self.ctx.connections[review.connection], who, Outcome.DENY, "-"
            )
        except ApprovalError as exc:
            return f"⚠️ {exc.message} (`{exc.code}`)"
        return None

    async def deny_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = view.get("state", {}).get("values", {})
        reason = str(
            (values.get(REASON_BLOCK_ID, {}).get(REASON_ACTION_ID) or {}).get("value") or ""
        )
        if not reason.strip():
            await ack(
                response_action="errors",
                errors={REASON_BLOCK_ID: "Say why: the requester sees it."},
            )
            return
        await ack()
        review_id, user = str(view.get("private_metadata", "")), str(body["user"]["id"])
        try:
            email = await self.ctx.directory.email_for(user)
            await self.ctx.api.decide(review_id, Outcome.DENY.value, reason, approver=email)
        except BotError as exc:
            await self.ctx.tell(await self.ctx.card_channel(review_id), user, explain(exc))
