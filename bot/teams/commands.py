"""``access ...`` sent to the bot in Teams: in its personal chat, or in a channel or group chat
with an @mention of the bot (the mention is stripped). The language is ``/access``'s
(:mod:`bot.commands`); the answer is a reply in the same conversation:

    access request <connection> [as <role>] for <duration> because <reason>
    access list | access status <id> | access revoke <grant-id> [because <reason>] | access help

A request with parts missing gets the request form (an Adaptive Card); writes go through the
gateway API for the sender, reads come from the store, as in Slack.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from typing import Any

from bot.cards.teams_messages import text_activity
from bot.commands import Help, ListAccess, RequestAccess, Revoke, Status, parse_access
from bot.errors import BotError
from bot.queries import may_see, overview
from bot.teams.actions import TeamsContext, explain, requested
from bot.teams.client import BotConnector
from bot.teams.views import TEAMS_USAGE, overview_text, request_form

__all__ = ["TeamsCommands", "command_text"]

log = logging.getLogger("bot.teams")

_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def command_text(activity: Mapping[str, Any]) -> str | None:
    """What follows ``access`` in a message addressed to the bot; None when the message is not
    for it (a channel message without a mention of the bot) or is not an ``access`` command
    (then "" : the usage is answered)."""
    conversation = activity.get("conversation") or {}
    personal = conversation.get("conversationType") == "personal"
    bot_id = (activity.get("recipient") or {}).get("id")
    mentioned = any(
        e.get("type") == "mention" and (e.get("mentioned") or {}).get("id") == bot_id
        for e in activity.get("entities") or []
        if isinstance(e, dict)
    )
    if not personal and not mentioned:
        return None
    raw = str(activity.get("text") or "")
    text = " ".join(html.unescape(_TAG.sub(" ", _MENTION.sub(" ", raw))).split())
    verb, _, rest = text.partition(" ")
    return rest if verb.lower() == "access" else ""


class TeamsCommands:
    def __init__(self, ctx: TeamsContext, connector: BotConnector) -> None:
        self.ctx, self.connector = ctx, connector

    async def message(self, activity: Mapping[str, Any]) -> None:
        """Answer one message activity (after the HTTP answer has left)."""
        text = command_text(activity)
        if text is None:
            return
        conversation = str((activity.get("conversation") or {}).get("id") or "")
        user = activity.get("from") or {}
        try:
            reply = await self._answer(parse_access(text) if text else Help(), user, conversation)
        except BotError as exc:
            reply = text_activity(explain(exc))
        reply["replyToId"] = activity.get("id")
        try:
            await self.connector.send(conversation, reply)
        except BotError as exc:
            log.warning("could not answer in Teams conversation: %s", exc)

    async def _answer(
        self, parsed: object, user: Mapping[str, Any], conversation: str
    ) -> dict[str, Any]:
        if isinstance(parsed, RequestAccess) and not parsed.complete:
            return request_form(parsed)
        if isinstance(parsed, Help):
            problem = f"⚠️ {parsed.problem}\n" if parsed.problem else ""
            return text_activity(problem + TEAMS_USAGE)
        email = await self.ctx.directory.email_for(user, conversation)
        if isinstance(parsed, RequestAccess):
            return text_activity(await requested(self.ctx, email, parsed))
        who = self.ctx.directory.people.identity(email)
        now = self.ctx.clock.now()
        if isinstance(parsed, ListAccess):
            view = await overview(self.ctx.store, who, self.ctx.connections, now)
            return text_activity(overview_text(view, now))
        if isinstance(parsed, Revoke):
            reason = parsed.reason or "given back from Teams"
            ended = await self.ctx.api.revoke(parsed.id, reason, revoker=email)
            return text_activity(f"🔒 Grant {ended['id']} on {ended['connection']} is revoked.")
        assert isinstance(parsed, Status)
        review = await self.ctx.store.get_review(parsed.id)
        if review is not None and may_see(who, review, self.ctx.connections.get(review.connection)):
            return text_activity(f"Review {review.id} on {review.connection}: {review.state.value}")
        grant = await self.ctx.store.get_delegation(parsed.id)
        if grant is not None and grant.subject == who.subject:
            state = "active" if grant.active(now) else "ended"
            return text_activity(f"🔑 Grant {grant.id} on {grant.connection} is {state}.")
        return text_activity(f"⚠️ Nothing you may see has the id {parsed.id[:80]}. (not_found)")
