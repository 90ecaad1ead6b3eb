"""Clicks on Airlock's Adaptive Cards: the ``adaptiveCard/action`` invokes (Universal Actions).

Each maps the clicker (the activity's ``from``) to a person, makes one call to the gateway API
for them (the bot's token, the person's e-mail), exactly as a Slack click does, and answers the
invoke with what the clicker alone sees ("Universal Actions for Adaptive Cards", "Adaptive
Card invoke response"): the updated card after a decision, the card with a line saying why
when the API refused (nothing changed), or a short message for the scheduler's cards. The card
is only ever sent back into a conversation it was posted to, or to someone who may see the
review (the API's visibility rule); anyone else gets a message. The card
everyone sees is redrawn by delivery from the store (PUT), with a reply in the thread.

``airlock.refresh`` (the approvers' automatic refresh) returns the card with buttons to a
person the decision policy would let decide now, and the plain card to anyone else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from approvals import ApprovalError, Clock, Connection, Identity, Outcome, Review, policy
from approvals.subjects import same_subject
from bot.api import AirlockApi
from bot.cards import card_from_review, teams
from bot.cards.teams_digest import KEEP_ALL_VERB, KEEP_VERB, REVOKE_UNUSED_VERB, REVOKE_VERB
from bot.cards.teams_messages import EXTEND_VERB
from bot.cards.text import format_duration
from bot.commands import RequestAccess, is_duration
from bot.delivery import MessageLog
from bot.errors import BotError, refusal
from bot.queries import ReviewReader, may_see
from bot.teams.sink import TeamsDirectory
from bot.teams.views import REQUEST_VERB, request_form

__all__ = ["CardActions", "Reader", "TeamsContext", "explain", "message", "requested"]

log = logging.getLogger("bot.teams")

_DIGEST = {
    KEEP_VERB: "keep",
    REVOKE_VERB: "revoke",
    KEEP_ALL_VERB: "keep_all",
    REVOKE_UNUSED_VERB: "revoke_unused",
}


class Reader(ReviewReader, MessageLog, Protocol):
    """The store reads the Teams handlers make (``store.SqlRepository`` implements them)."""


@dataclass(frozen=True)
class TeamsContext:
    api: AirlockApi
    directory: TeamsDirectory
    store: Reader
    connections: Mapping[str, Connection]
    clock: Clock


def explain(exc: BotError) -> str:
    """Why nothing changed, for the person alone (plain text)."""
    code, lead = refusal(exc)
    return f"⚠️ {lead} {exc.message[:1500]} ({code})"


def message(text: str) -> dict[str, Any]:
    """An invoke answer Teams shows to the clicker as a message."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


def _card(card: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "type": teams.ADAPTIVE_CARD, "value": card}


async def requested(ctx: TeamsContext, email: str, ask: RequestAccess) -> str:
    """File ``ask`` for ``email`` through the API; what to tell them."""
    assert ask.connection and ask.duration and ask.reason
    review = await ctx.api.request_access(
        ask.connection, role=ask.role, duration=ask.duration, reason=ask.reason, requester=email
    )
    return (
        f"✅ Requested access to {ask.connection} for {ask.duration}: review {review['id']} is "
        "waiting for approval. You get a message when it is decided."
    )


class CardActions:
    def __init__(self, ctx: TeamsContext) -> None:
        self.ctx = ctx

    async def invoke(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to one ``adaptiveCard/action`` invoke."""
        action = (activity.get("value") or {}).get("action") or {}
        verb, data = str(action.get("verb") or ""), action.get("data") or {}
        user = activity.get("from") or {}
        conversation = str((activity.get("conversation") or {}).get("id") or "")
        if not isinstance(data, dict):
            return message("⚠️ That button is not one of Airlock's.")
        if verb in (teams.APPROVE_VERB, teams.DENY_VERB, teams.REFRESH_VERB):
            return await self._review(verb, str(data.get("review") or ""), data, user, conversation)
        try:
            email = await self.ctx.directory.email_for(user, conversation)
            if verb in _DIGEST:
                digest, line = str(data.get("d") or ""), data.get("k")
                key = str(line) if line is not None else None
                await self.ctx.api.access_review_decision(digest, _DIGEST[verb], key, decider=email)
                return message("✅ Recorded; the digest is updated for everyone.")
            if verb == EXTEND_VERB:
                return message(await self._extend(email, str(data.get("grant") or "")))
            if verb == REQUEST_VERB:
                return await self._request(email, data)
        except BotError as exc:
            return message(explain(exc))
        return message("⚠️ That button is not one of Airlock's.")

    async def _review(
        self, verb: str, review_id: str, data: Mapping[str, Any], user: Any, conversation: str
    ) -> dict[str, Any]:
        review = await self.ctx.store.get_review(review_id) if review_id else None
        if review is None or review.connection not in self.ctx.connections:
            return message("⚠️ Airlock does not know that review. (not_found)")
        notice, mine, who = None, False, None
        try:
            email = await self.ctx.directory.email_for(user, conversation)
            who = self.ctx.directory.people.identity(email)
            if verb == teams.REFRESH_VERB:
                mine = self._may_decide(who, review)
            elif verb == teams.DENY_VERB and not str(data.get(teams.REASON_INPUT) or "").strip():
                notice, mine = "Say why: the requester sees your reason.", True
            else:
                outcome = Outcome.APPROVE if verb == teams.APPROVE_VERB else Outcome.DENY
                reason = str(data.get(teams.REASON_INPUT) or "").strip()[: teams.REASON_MAX]
                await self.ctx.api.decide(review_id, outcome.value, reason or None, approver=email)
        except BotError as exc:
            notice = explain(exc)
        if not await self._shows(review, conversation, who):
            return message(notice or "⚠️ Airlock does not know that review. (not_found)")
        review = await self.ctx.store.get_review(review_id) or review
        card = card_from_review(review, now=self.ctx.clock.now(), channel=None)
        approvers = self.ctx.directory.approvers(review.connection)
        return _card(
            teams.render_teams(card, approvers=approvers, for_approver=mine, notice=notice)
        )

    async def _shows(self, review: Review, conversation: str, who: Identity | None) -> bool:
        """Whether the answer may carry the card: the click came from a conversation the card
        was posted to, or the clicker may see the review (a crafted invoke elsewhere learns
        nothing)."""
        posted = await self.ctx.store.list_chat_messages(review.id)
        if any(m.provider == "teams" and m.channel == conversation for m in posted):
            return True
        conn = self.ctx.connections.get(review.connection)
        return who is not None and may_see(who, review, conn)

    def _may_decide(self, who: Identity, review: Review) -> bool:
        """Whether the policy would let ``who`` vote now (the API checks again on the click)."""
        if review.is_final or self.ctx.clock.now() >= review.expires_at:
            return False
        try:
            policy.check_decision(
                review, self.ctx.connections[review.connection], who, Outcome.APPROVE, None
            )
        except ApprovalError:
            return False
        return True

    async def _extend(self, email: str, grant_id: str) -> str:
        grant = await self.ctx.store.get_delegation(grant_id)
        conn = self.ctx.connections.get(grant.connection) if grant is not None else None
        if grant is None or conn is None or not same_subject(grant.subject, email):
            return "⚠️ Only the holder can extend this grant."
        length = min(grant.expires_at - grant.created_at, conn.max_grant)
        answer = await self.ctx.api.request_access(
            grant.connection,
            role=grant.role,
            duration=f"{int(length.total_seconds())}s",
            reason=f"extend grant {grant.id}: {grant.reason}"[:2000],
            requester=email,
        )
        return (
            f"⏳ Asked for {format_duration(length)} more on {grant.connection}: review "
            f"{answer.get('id', '')} waits for the approvers."
        )

    async def _request(self, email: str, data: Mapping[str, Any]) -> dict[str, Any]:
        given = {
            k: (str(data.get(k) or "").strip() or None)
            for k in ("connection", "role", "duration", "reason")
        }
        ask = RequestAccess(given["connection"], given["role"], given["duration"], given["reason"])
        if not ask.complete or not is_duration(ask.duration or ""):
            problem = "Use e.g. 30m, 2h or 1d." if ask.duration else "Fill in every field."
            form = request_form(ask, problem)["attachments"][0]["content"]
            return _card(form)
        return message(await requested(self.ctx, email, ask))
