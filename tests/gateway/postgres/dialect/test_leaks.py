"""Routes around the masked result set (gateway.postgres.dialect.leaks), on the corpus."""

from __future__ import annotations

import pytest

from gateway.postgres.dialect import MaskingPolicy
from gateway.postgres.dialect.leaks import Leaks, Masked, find_leak
from tests.gateway.postgres.dialect.helpers import gaps, insert_at
from tests.gateway.postgres.dialect.leak_corpus import COLUMNS, DETECTORS

POLICY = MaskingPolicy(columns=("crm.customers.ssn", "card_number"), detectors=("email",))
CATALOG = {(1001, 3): ("crm.customers", "ssn"), (1002, 4): ("public.t", "card_number")}
MASKED = Masked.of(POLICY, CATALOG)
DETECTORS_ONLY = Masked.of(MaskingPolicy(detectors=("email", "credit_card")))


def test_masked_from_policy_and_catalog() -> None:
    """The rules' columns, tables and schemas, and the catalog's tables, are what is masked."""
    assert MASKED.columns == {"ssn", "card_number"}
    assert MASKED.tables == {"customers", "t"}
    assert MASKED.named_tables == {"customers"}
    assert MASKED.schemas == {"crm"}
    assert Masked() == DETECTORS_ONLY


def test_corpus_covers_every_route() -> None:
    """The corpus has nearly two hundred cases and every rule, refused and allowed."""
    assert len(COLUMNS) + len(DETECTORS) >= 180
    rules = {rule for _, rule in COLUMNS}
    assert {None, "masking/whole-row", "masking/stored-value", "masking/copy"} <= rules
    assert {"masking/rename", "masking/statistics", "masking/copy-out", "masking/code"} <= rules


@pytest.mark.parametrize(("sql", "rule"), COLUMNS, ids=[s for s, _ in COLUMNS])
def test_column_rules(sql: str, rule: str | None) -> None:
    """On a connection with column rules, each case takes its route (or none)."""
    leak = find_leak(sql, MASKED)
    assert (leak.rule if leak is not None else None) == rule, leak


@pytest.mark.parametrize(("sql", "rule"), DETECTORS, ids=[s for s, _ in DETECTORS])
def test_detectors_only(sql: str, rule: str | None) -> None:
    """With detectors only, whole rows of any relation, stored values, statistics and COPY TO
    are refused; copies and renames are read through the detectors again."""
    leak = find_leak(sql, DETECTORS_ONLY)
    assert (leak.rule if leak is not None else None) == rule, leak


@pytest.mark.parametrize(("sql", "rule"), [c for c in COLUMNS if c[1] is not None][::3])
def test_comments_and_whitespace_do_not_hide_a_route(sql: str, rule: str) -> None:
    """A comment or line break between any two tokens never hides a route."""
    offsets = gaps(sql)
    assert offsets is not None
    for offset in offsets:
        for filler in ("/* x */", "\n", " --\n "):
            disguised = insert_at(sql, {offset: filler})
            leak = find_leak(disguised, MASKED)
            assert leak is not None and leak.rule == rule, (disguised, leak)


def test_leaks_keeps_answers_by_literal_shape() -> None:
    """A session's Leaks answers look-alikes (other constants) from one parse, and the same."""
    leaks = Leaks(POLICY, CATALOG)
    first = leaks.of("SELECT set_config('a.b', ssn, false) FROM customers WHERE id = 1")
    again = leaks.of("SELECT set_config('a.b', ssn, false) FROM customers WHERE id = 2")
    assert first is not None and first == again
    assert leaks.of("SELECT id FROM customers WHERE id = 3") is None
    assert len(leaks._cache) == 2 and len(leaks._by_text) == 3


def test_every_leak_names_its_rule_and_a_reason() -> None:
    """Every refusal carries a rule name under masking/ and a reason for the client."""
    for sql, rule in COLUMNS:
        leak = find_leak(sql, MASKED)
        if rule is not None:
            assert leak is not None and leak.rule.startswith("masking/") and leak.reason


def test_texts_naming_nothing_masked_are_not_parsed() -> None:
    """With column rules, a text naming no masked column, relation, storing function, the
    statistics or COPY is answered without a parse; a U& identifier is always parsed."""
    leaks = Leaks(MaskingPolicy(columns=("customers.ssn",)), None)
    assert leaks.of("SELECT o FROM orders o WHERE id = 1") is None
    assert leaks._cache == {}
    escaped = 'ALTER TABLE orders RENAME COLUMN U&"\\0073sn" TO x'
    leak = leaks.of(escaped)
    assert leak is not None and leak.rule == "masking/rename"
    leak = leaks.of("SELECT most_common_vals FROM PG_STATS")
    assert leak is not None and leak.rule == "masking/statistics"
    leak = leaks.of("SELECT set_config('a.b', name, false) FROM orders")
    assert leak is not None and leak.rule == "masking/stored-value"
