"""The provider-neutral layer: delivery and notice rules that hold for any chat provider, shown
with an in-memory provider (the ports' small fake), not Slack."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from approvals import (
    ApprovalService,
    ApproverRule,
    Connection,
    Decision,
    Delegation,
    Escalation,
    Identity,
    Review,
    SystemClock,
)
from bot.cards import Card
from bot.cards.digest import DigestCard
from bot.config import ChatConfig, Person
from bot.delivery import Delivery
from bot.errors import ChatError
from bot.notices import ChatNotices, Page
from store import ChatMessage, ChatNotice, Database, DigestStore, Outbox, OutboxEvent, SqlRepository

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), email="alice@example.com")
PG = Connection(
    "pg",
    "postgres",
    approvers=ApproverRule(frozenset({"dba"}), channel="room-dba"),
    escalation=Escalation("room-leads", frozenset({"leads"})),
)
CONFIG = ChatConfig(
    "console",
    "http://127.0.0.1:9",
    {"pg": PG},
    (Person("lead@example.com", frozenset({"leads"})),),
)


@dataclass
class MemoryChat:
    """A chat provider that keeps what it was told: (what, where) in order; ``refuse`` maps a
    statement fragment to the error posting its card raises."""

    provider: str = "memo"
    said: list[tuple[str, str]] = field(default_factory=list)
    refuse: dict[str, ChatError] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def _say(self, what: str, where: str) -> tuple[str, str]:
        self.said.append((what, where))
        return where, f"m{next(self.ids)}"

    # ChatSink
    async def post_card(self, channel: str, card: Card) -> tuple[str, str]:
        for fragment, error in self.refuse.items():
            if fragment in (card.statement or ""):
                raise error
        return self._say(f"card {card.review_id}", channel)

    async def update_card(self, ref: ChatMessage, card: Card) -> None:
        self._say(f"redraw {card.review_id}", ref.channel)

    async def reply(self, ref: ChatMessage, card: Card, decision: Decision | None) -> str:
        return self._say(f"reply {card.review_id}", ref.channel)[1]

    async def direct(self, person: Identity, card: Card) -> tuple[str, str] | None:
        return self._say(f"dm {card.review_id}", person.subject)

    async def revoked(self, delegation: Delegation) -> tuple[str, str] | None:
        return self._say(f"revoked {delegation.id}", delegation.subject)

    # NoticeSink
    async def address_of(self, email: str) -> str | None:
        return f"dm:{email}"

    async def remind(
        self, thread: ChatMessage, card: Card, step: int, of: int, now: datetime
    ) -> str:
        return self._say(f"reminder {step}/{of}", thread.channel)[1]

    async def escalation_note(self, thread: ChatMessage, card: Card, where: list[str]) -> str:
        return self._say(f"escalated to {', '.join(where)}", thread.channel)[1]

    async def idle_owner_notice(self, address: str, delegation: Delegation) -> tuple[str, str]:
        return self._say(f"idle {delegation.id}", address)

    async def expiring(
        self, address: str, delegation: Delegation, extension: timedelta
    ) -> tuple[str, str]:
        return self._say(f"expiring {delegation.id} +{extension}", address)

    def digest_pages(self, card: DigestCard) -> Sequence[Page]:
        return [{"lines": len(card.lines)}]

    async def post_page(self, address: str, page: Page) -> tuple[str, str]:
        return self._say(f"digest {page}", address)

    async def update_page(self, ref: ChatNotice, page: Page) -> None:
        self._say(f"digest redraw {page}", ref.channel)


def _event(topic: str, key: str, **payload: object) -> OutboxEvent:
    return OutboxEvent(0, topic, key, dict(payload), datetime.now(UTC))


async def _hold(repository: SqlRepository, statement: str = "TRUNCATE t") -> Review:
    service = ApprovalService(repository, repository.bus, SystemClock(), {"pg": PG})
    return await service.hold_statement(ALICE, "pg", statement, risk="high", rule="destructive")


def _wired(
    chat: MemoryChat, repository: SqlRepository, database: Database
) -> tuple[Delivery, ChatNotices]:
    notices = ChatNotices(chat, repository, DigestStore(repository), CONFIG, SystemClock())
    delivery = Delivery(
        chat, Outbox(database), repository, repository.bus, SystemClock(), CONFIG, notices=notices
    )
    return delivery, notices


async def test_a_provider_s_own_permanent_error_is_given_up_at_once(
    repository: SqlRepository, database: Database
) -> None:
    """An error its provider marked permanent (a code Slack never uses) is given up on in the
    same drain and the next review's card still goes out; delivery knows no provider's codes."""
    chat = MemoryChat(refuse={"DROP a": ChatError("gone for good", "Gone", permanent=True)})
    delivery, _ = _wired(chat, repository, database)
    await _hold(repository, "DROP a")
    second = await _hold(repository, "DROP b")
    assert await delivery.drain() is None
    assert chat.said == [(f"card {second.id}", "room-dba")]
    assert await Outbox(database).claim_undelivered(delivery.consumer, delivery.topics) == []


async def test_an_error_not_marked_permanent_is_retried(
    repository: SqlRepository, database: Database
) -> None:
    """The same refusal without the provider's ``permanent`` mark releases the batch and asks
    for a pause, so it is tried again."""
    chat = MemoryChat(refuse={"DROP a": ChatError("try later", "Gone")})
    delivery, _ = _wired(chat, repository, database)
    await _hold(repository, "DROP a")
    pause = await delivery.drain()
    assert pause is not None and pause > 0
    assert chat.said == []


async def test_reminders_and_escalation_are_said_once_per_step(
    repository: SqlRepository, database: Database
) -> None:
    """Reminder steps each reach the card's thread once however often they are redelivered; an
    escalation posts the card to the escalation room and each escalation person once, then one
    note in the thread; all recorded under the provider's own name."""
    chat = MemoryChat()
    delivery, notices = _wired(chat, repository, database)
    review = await _hold(repository)
    await delivery.drain()
    first = [_event("review.reminder", review.id, step=1, of=3)]
    for _ in range(2):
        await notices.handle("review", review.id, first)
    await notices.handle("review", review.id, [_event("review.reminder", review.id, step=2, of=3)])
    escalate = [_event("review.escalated", review.id)]
    for _ in range(2):
        await notices.handle("review", review.id, escalate)
    assert [what for what, _ in chat.said] == [
        f"card {review.id}",
        "reminder 1/3",
        "reminder 2/3",
        f"card {review.id}",
        f"card {review.id}",
        "escalated to room-leads, lead@example.com",
    ]
    assert [where for _, where in chat.said[3:5]] == ["room-leads", "dm:lead@example.com"]
    kinds = {m.provider for m in await repository.list_chat_messages(review.id)}
    assert {"memo:reminder:1", "memo:reminder:2", "memo:escalation-note"} <= kinds


async def test_two_providers_keep_separate_records(
    repository: SqlRepository, database: Database
) -> None:
    """What one provider said does not count as said for another: each reminds once."""
    one, other = MemoryChat("one"), MemoryChat("other")
    review = await _hold(repository)
    reminder = [_event("review.reminder", review.id, step=1, of=1)]
    for chat in (one, other):
        delivery, notices = _wired(chat, repository, database)
        await delivery.drain()
        await notices.handle("review", review.id, reminder)
        await notices.handle("review", review.id, reminder)
    assert (
        [w for w, _ in one.said]
        == [w for w, _ in other.said]
        == [
            f"card {review.id}",
            "reminder 1/1",
        ]
    )
