"""The adversarial corpus: every case gets its expected verdict, alone, cached and disguised."""

from __future__ import annotations

import pytest

from gateway.guardrails import Action, Verdict
from gateway.postgres.dialect import Guardrails
from tests.gateway.postgres.dialect.corpus import CASES, Case
from tests.gateway.postgres.dialect.helpers import gaps, insert_at


def _meets(verdict: Verdict, expect: str) -> bool:
    if expect == "review":
        return verdict.action is not Action.ALLOW
    return verdict.action.value == expect


def test_corpus_is_large() -> None:
    """The corpus holds hundreds of cases across every class."""
    assert len(CASES) >= 600
    assert {c.expect for c in CASES} == {"allow", "hold", "block", "review"}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case) -> None:
    """Each case gets its expected verdict from a fresh Guardrails."""
    verdict = Guardrails().evaluate(case.sql, case.state())
    assert _meets(verdict, case.expect), verdict


def test_corpus_through_one_shared_cache() -> None:
    """One Guardrails evaluating the whole corpus twice (cache and fingerprints shared) agrees."""
    guardrails = Guardrails()
    for _ in range(2):
        wrong = [
            (str(case), guardrails.evaluate(case.sql, case.state()).action)
            for case in CASES
            if not _meets(guardrails.evaluate(case.sql, case.state()), case.expect)
        ]
        assert wrong == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_with_comments_between_every_token(case: Case) -> None:
    """A comment and newline between every pair of tokens does not change the verdict."""
    offsets = gaps(case.sql)
    if not offsets:
        return
    disguised = insert_at(case.sql, dict.fromkeys(offsets, " /* ; DROP TABLE x */\n"))
    plain = Guardrails().evaluate(case.sql, case.state())
    assert Guardrails().evaluate(disguised, case.state()).action is plain.action, disguised
