"""How fast Teams sees a held statement and how fast a click lets it finish: 20 rounds through
the real gateway (PostgreSQL store and listener, psql) and the fakes; p50 and p99 printed."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import pytest

from bot.cards.teams import APPROVE_VERB
from tests.bot.chatkit import Psql, table_database, wait_for
from tests.bot.teamskit import (
    BOB,
    CHANNEL,
    Teams,
    review_of,
    teams_connection,
    teams_fakes,
    teams_gateway,
)
from tests.conftest import fresh_pg_database
from tests.harness import RunningGateway
from tests.support.fake_teams import Posted

ROUNDS = 20


@pytest.fixture
def teams() -> Iterator[Teams]:
    """The fake login service and Bot Connector."""
    with teams_fakes() as fakes:
        yield fakes


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> AsyncIterator[RunningGateway]:
    """A gateway on a PostgreSQL store (LISTEN/NOTIFY wakes delivery) in front of table t."""
    async with table_database() as target, fresh_pg_database() as store_url, teams_gateway(
        tmp_path, monkeypatch, teams, connections=[teams_connection(target)],
        store_url=store_url,
    ) as running:  # fmt: skip
        yield running


def _new_cards(teams: Teams, seen: int) -> list[Posted]:
    return teams.connector.cards_in(CHANNEL)[seen:]


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def test_held_statement_to_card_and_click_to_result(gw: RunningGateway, teams: Teams) -> None:
    """Held (review committed) → card posted, and Approve sent → psql done, each p99 < 1.5 s."""
    client = teams.client(gw)
    token = gw.token("alice@example.com", ["eng"])
    to_card, to_result = [], []
    for round_ in range(ROUNDS):
        psql = await Psql(gw, token, "DELETE FROM t").start()
        posted = (await wait_for(partial(_new_cards, teams, round_), what="the card"))[0]
        review = await gw.runtime.repository.get_review(review_of(posted))
        assert review is not None
        to_card.append(posted.at - review.created_at.timestamp())
        click = client.invoke(BOB, APPROVE_VERB, {"review": review.id}, posted.conversation)
        started = time.monotonic()
        assert (await client.send(click)).status_code == 200
        code, _, err = await psql.result()
        to_result.append(time.monotonic() - started)
        assert code == 0, err
    report = {
        name: (1e3 * statistics.median(s), 1e3 * _p(s, 0.99))
        for name, s in (("held → card", to_card), ("click → result", to_result))
    }
    print("".join(f"\n{k}: p50 {a:.0f} ms, p99 {b:.0f} ms" for k, (a, b) in report.items()))
    assert all(p99 < 1500 for _, p99 in report.values()), report
