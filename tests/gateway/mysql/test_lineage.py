"""The masking session's reading of its texts, kept by literal shape where literals cannot
change it (gateway.mysql.masking.Lineage)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.masking import MaskingRules
from gateway.mysql.dialect import MYSQL, MySQLState, general_shape
from gateway.mysql.masking import Lineage

POLICY = MYSQL.masking(MaskingRules(columns=["ssn"], detectors=["email"]))
TEMPLATES = [
    "SELECT name FROM customers WHERE id = {}",
    "SELECT ssn FROM customers WHERE id = {}",
    "SELECT x FROM (SELECT ssn AS x, {} AS k FROM customers) d",
    "SELECT CONCAT(name, {}) FROM customers",
    "SELECT SUBSTRING(ssn, 1, {}) AS s, name FROM customers",
    "WITH c AS (SELECT ssn, {} AS n FROM customers) SELECT * FROM c",
    "INSERT INTO archive SELECT ssn, {} FROM customers",
    "INSERT INTO notes (body) VALUES ({})",
    "SELECT name FROM customers INTO OUTFILE {}",
]
LITERALS = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.text(alphabet="abcxyz019 _-'", max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'"),
)


def test_texts_of_one_shape_share_one_reading() -> None:
    """Point selects with new keys are read once: the second is answered from the shape."""
    assert POLICY is not None
    lineage = Lineage(POLICY)
    state = MySQLState()
    first, second = TEMPLATES[1].format(1), TEMPLATES[1].format(2)
    assert general_shape(first, state) == general_shape(second, state) is not None
    lineage.derived(first, state)
    lineage.leak(first, state)
    assert len(lineage._derived) == len(lineage._leaks) == 1
    lineage.derived(second, state)
    lineage.leak(second, state)
    assert len(lineage._derived) == len(lineage._leaks) == 1


def test_texts_without_a_general_shape_are_kept_by_text() -> None:
    """An executable comment, a backslash or a statement that is no SELECT / INSERT has no
    general shape: each such text is read on its own."""
    state = MySQLState()
    for text in (
        "SELECT /*!50000 ssn */ FROM customers WHERE id = 1",
        "SELECT name FROM customers WHERE note = 'a\\\\b'",
        "UPDATE customers SET name = 'x' WHERE id = 1",
        "PREPARE s FROM 'SELECT ssn FROM customers'",
    ):
        assert general_shape(text, state) is None, text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TEMPLATES), LITERALS, LITERALS)
def test_a_shared_reading_is_the_reading(template: str, one: str, other: str) -> None:
    """Whatever text of a shape was read first, the answer for another text of that shape is
    what the dialect reads of that text itself: literals never change leaks or derived
    outputs where the shape is shared."""
    assert POLICY is not None
    state = MySQLState()
    lineage = Lineage(POLICY)
    first, second = template.format(one), template.format(other)
    lineage.leak(first, state)
    lineage.derived(first, state)
    assert lineage.leak(second, state) == POLICY.check(second, state)
    assert lineage.derived(second, state) == POLICY.derived(second, state)
