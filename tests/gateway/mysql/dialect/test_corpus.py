"""The MySQL adversarial corpus: every case gets its expected verdict, alone, cached, and with
case and comment disguises."""

from __future__ import annotations

import re

import pytest

from gateway.guardrails import Action, Verdict
from gateway.mysql.dialect import MYSQL
from tests.gateway.mysql.dialect.corpus import BASE, CASES, Case


def _meets(verdict: Verdict, expect: str) -> bool:
    if expect == "review":
        return verdict.action is not Action.ALLOW
    return verdict.action.value == expect


def test_corpus_is_as_large_as_postgresql_s() -> None:
    """The corpus holds at least as many cases as PostgreSQL's (907), across every verdict."""
    assert len(CASES) >= 907
    assert len(BASE) >= 500
    assert {c.expect for c in CASES} == {"allow", "hold", "block", "review"}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case) -> None:
    """Each case gets its expected verdict from a fresh rule set."""
    verdict = MYSQL.guardrails([]).evaluate(case.sql, case.state())
    assert _meets(verdict, case.expect), verdict


def test_corpus_through_one_shared_cache() -> None:
    """One rule set evaluating the whole corpus twice (its cache shared) agrees."""
    guardrails = MYSQL.guardrails([])
    for _ in range(2):
        wrong = [
            str(case)
            for case in CASES
            if not _meets(guardrails.evaluate(case.sql, case.state()), case.expect)
        ]
        assert wrong == []


_PLAIN = re.compile(r"^[A-Za-z0-9_ ,=*().<>;'@-]*$")


@pytest.mark.parametrize("case", [c for c in BASE if _PLAIN.match(c.sql)], ids=str)
def test_case_with_comments_between_words(case: Case) -> None:
    """A comment and a newline between every two words (outside quotes) keep the verdict."""
    parts = re.split(r"('(?:[^']|'')*')", case.sql)
    disguised = "".join(
        p if p.startswith("'") else p.replace(" ", " /* ; DROP TABLE x */\n") for p in parts
    )
    plain = MYSQL.guardrails([]).evaluate(case.sql, case.state())
    assert MYSQL.guardrails([]).evaluate(disguised, case.state()).action is plain.action


# Case-sensitive spellings: literals, MariaDB's /*M! marker, 0x / 0b prefixes (0X1F is a name).
_CASED = [c for c in BASE if not re.search(r"['\"]|/\*M|\b0[xb]", c.sql)]


@pytest.mark.parametrize("case", _CASED, ids=str)
def test_case_in_other_letter_case(case: Case) -> None:
    """Keywords are case-insensitive: upper- and lower-cased texts keep the verdict."""
    plain = MYSQL.guardrails([]).evaluate(case.sql, case.state()).action
    for text in (case.sql.upper(), case.sql.lower()):
        assert MYSQL.guardrails([]).evaluate(text, case.state()).action is plain, text
