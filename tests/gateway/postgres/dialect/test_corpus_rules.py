"""The rule catalogue's corpus (classes 4, 5, 13): each case alone, through one shared cache,
and disguised with comments between its tokens."""

from __future__ import annotations

import pytest
from pglast import enums

from gateway.guardrails import Action, Verdict
from gateway.postgres.dialect import Guardrails
from gateway.postgres.dialect.alter import ALTER_TABLE
from tests.gateway.postgres.dialect.corpus import Case
from tests.gateway.postgres.dialect.corpus_rules import CASES
from tests.gateway.postgres.dialect.helpers import gaps, insert_at


def _meets(verdict: Verdict, expect: str) -> bool:
    if expect == "review":
        return verdict.action is not Action.ALLOW
    return verdict.action.value == expect


def test_corpus_covers_every_class() -> None:
    """The corpus holds hundreds of cases, of every expectation."""
    assert len(CASES) >= 300
    assert {c.expect for c in CASES} == {"allow", "hold", "block"}
    assert len({c.sql for c in CASES}) == len(CASES), "a case is listed twice"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: Case) -> None:
    """Each case gets its expected verdict from a fresh Guardrails."""
    verdict = Guardrails().evaluate(case.sql, case.state())
    assert _meets(verdict, case.expect), verdict


def test_through_one_shared_cache() -> None:
    """One Guardrails evaluating the corpus twice (verdicts and fingerprints cached) agrees:
    no allowed look-alike lends its verdict to a held one."""
    guardrails = Guardrails()
    for _ in range(2):
        wrong = [
            str(case)
            for case in CASES
            if not _meets(guardrails.evaluate(case.sql, case.state()), case.expect)
        ]
        assert wrong == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_with_comments_between_every_token(case: Case) -> None:
    """A comment and newline between every pair of tokens does not change the verdict."""
    offsets = gaps(case.sql)
    if not offsets:
        pytest.fail(f"unscannable case {case.sql!r}")
    disguised = insert_at(case.sql, dict.fromkeys(offsets, " /* ; DROP TABLE x */\n"))
    assert _meets(Guardrails().evaluate(disguised, case.state()), case.expect), disguised


def test_every_alter_table_subcommand_is_classified() -> None:
    """The ALTER TABLE table names every sub-command libpg_query knows, and nothing else (one
    it does not name would be held as unknown)."""
    known = {member.name for member in enums.AlterTableType}
    assert sorted(known - set(ALTER_TABLE)) == []
    assert sorted(set(ALTER_TABLE) - known) == []
