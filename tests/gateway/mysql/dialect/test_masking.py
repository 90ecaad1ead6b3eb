"""MySQL masking: column rules bound by org_table / org_name, detectors by type, error texts."""

from __future__ import annotations

import pytest

from gateway.masking import MaskingRules, MaskTally
from gateway.mysql.dialect import ColumnOrigin, MalformedRowError, MySQLMasking

VARCHAR, LONG, LONGLONG, JSON, DATETIME, DOUBLE, NEWDECIMAL, BLOB = 253, 3, 8, 245, 12, 5, 246, 252


def _col(
    name: str, org_table: str = "", org_name: str = "", schema: str = "", kind: int = VARCHAR
) -> ColumnOrigin:
    return ColumnOrigin(
        schema, org_table or "", org_table, name, org_name or (name if org_table else ""), kind, 255
    )


def _policy(columns: list[str], detectors: list[str] = ()) -> MySQLMasking:  # type: ignore[assignment]
    return MySQLMasking(MaskingRules(columns, list(detectors)))


def test_a_rule_binds_through_an_alias_to_the_real_column() -> None:
    """``SELECT ssn AS x FROM customers``: org_name ssn is masked whatever the alias."""
    mask = _policy(["customers.ssn"]).plan(
        [_col("id", "customers", "id", "app", LONG), _col("x", "customers", "ssn", "app")]
    )
    assert mask is not None and mask.masked == (1,)
    tally = MaskTally()
    assert mask.row([b"1", b"123-45-6789"], tally) == [b"1", b"***-**-6789"]
    assert tally.counts().columns == {"customers.ssn": 1}


def test_a_schema_qualified_rule_uses_the_column_schema_or_the_database() -> None:
    """``app.customers.ssn`` binds by the column's schema, else the session's database."""
    policy = _policy(["app.customers.ssn"])
    assert policy.plan([_col("ssn", "customers", "ssn", "app")]) is not None
    assert policy.plan([_col("ssn", "customers", "ssn", "")], "app") is not None
    assert policy.plan([_col("ssn", "customers", "ssn", "other")]) is None


def test_a_column_that_cannot_be_bound_to_a_schema_is_masked() -> None:
    """No schema and no database: the rule matches by column name alone (fails closed)."""
    mask = _policy(["app.customers.ssn"]).plan([_col("ssn", "customers", "ssn", "")])
    assert mask is not None and mask.masked == (0,)


def test_computed_columns_are_masked_by_name_or_by_a_masked_column_inside() -> None:
    """A computed column named like, naming, or derived from a masked column is masked."""
    policy = _policy(["ssn"])
    assert policy.plan([_col("ssn")]) is not None
    assert policy.plan([_col("concat(ssn,'')")]) is not None
    assert policy.plan([_col("upper(name)")]) is None
    derived = policy.plan([_col("x")], derived=frozenset([0]))
    assert derived is not None and derived.planned[0].rule == "derived"
    tally = MaskTally()
    assert derived.row([b"123-45-6789"], tally) == [b"***-**-6789"]
    assert tally.counts().columns == {"derived": 1}


def test_rule_actions_keep_values_valid_for_their_type() -> None:
    """Numbers become 0, JSON null, dates NULL, text a partial mask; NULL stays NULL."""
    mask = _policy(["t.a", "t.b", "t.c", "t.d", "t.e"]).plan(
        [
            _col("a", "t", kind=LONGLONG),
            _col("b", "t", kind=JSON),
            _col("c", "t", kind=DATETIME),
            _col("d", "t"),
            _col("e", "t"),
        ]
    )
    assert mask is not None
    row = mask.row(
        [b"123456789", b'{"x": 1}', b"2024-01-01 00:00:00", b"alice@example.com", None], MaskTally()
    )
    assert row == [b"0", b"null", None, b"a***@example.com", None]


def test_detectors_run_on_text_json_and_numbers_but_not_dates() -> None:
    """Text is masked in place, JSON strings too, a card number stored as a number is 0."""
    policy = _policy([], ["email", "credit_card"])
    mask = policy.plan(
        [
            _col("note", "t"),
            _col("doc", "t", kind=JSON),
            _col("card", "t", kind=LONGLONG),
            _col("at", "t", kind=DATETIME),
            _col("f", "t", kind=DOUBLE),
        ]
    )
    assert mask is not None and mask.masked == (0, 1, 2)
    tally = MaskTally()
    row = mask.row(
        [
            b"mail bob@example.com now",
            b'{"e": "bob@example.com"}',
            b"4111111111111111",
            b"2024-01-01",
            b"1.5",
        ],
        tally,
    )
    assert row[0] == b"mail b***@example.com now"
    assert row[1] == b'{"e": "b***@example.com"}'
    assert row[2] == b"0"
    assert tally.counts().detectors == {"email": 2, "credit_card": 1}


def test_a_row_of_the_wrong_width_is_refused() -> None:
    """A row that does not match the planned columns raises MalformedRowError."""
    mask = _policy(["ssn"]).plan([_col("ssn", "t")])
    assert mask is not None
    with pytest.raises(MalformedRowError):
        mask.row([b"1", b"2"], MaskTally())


def test_a_plan_is_none_when_nothing_can_change() -> None:
    """No rule matches and no detector applies: no mask, rows pass untouched."""
    assert _policy(["ssn"]).plan([_col("id", "t", kind=LONG), _col("name", "t")]) is None
    assert _policy([], ["email"]).plan([_col("at", "t", kind=DATETIME)]) is None


@pytest.mark.parametrize(
    ("message", "sent", "shown"),
    [
        (
            "Duplicate entry '123-45-6789' for key 'PRIMARY'",
            "UPDATE c SET a = 1",
            "Duplicate entry '***'",
        ),
        (
            "Duplicate entry '5' for key 'PRIMARY'",
            "INSERT INTO t VALUES (5)",
            "Duplicate entry '5' for key '***'",
        ),
        (
            "Table 'app.nosuch' doesn't exist",
            "SELECT * FROM app.nosuch",
            "Table 'app.nosuch' doesn't exist",
        ),
        (
            "Unknown column 'foo' in 'field list'",
            "SELECT foo FROM t",
            "Unknown column 'foo' in '***'",
        ),
        (
            "Truncated incorrect DOUBLE value: 'ahi-af-bbcb'",
            "SELECT ssn + 0 FROM c",
            "Truncated incorrect DOUBLE value: '***'",
        ),
        (
            "Data too long for column 'x' at row 1",
            "INSERT INTO t VALUES (1)",
            "Data too long for column '***' at row 1",
        ),
        ("bad value bob@example.com", "SELECT 1", "bad value b***@example.com"),
    ],
)
def test_error_messages_lose_the_values_the_client_did_not_send(
    message: str, sent: str, shown: str
) -> None:
    """ERR texts: quoted values not in the statement are ***, detectors run on the rest."""
    assert _policy(["ssn"], ["email"]).error_message(message, sent) == shown


def test_derived_outputs_are_masked_whatever_origin_the_server_reports() -> None:
    """A derived table's column (org_table d or customers, org_name x) is masked when derived."""
    policy = _policy(["customers.ssn"])
    merged = _col("x", "d", "x", "app")
    materialised = ColumnOrigin("", "d", "customers", "x", "x", VARCHAR, 45)
    assert policy.plan([merged]) is None and policy.plan([materialised]) is None
    for column in (merged, materialised):
        mask = policy.plan([column], "app", derived=frozenset([0]))
        assert mask is not None and mask.row([b"123-45-6789"], MaskTally()) == [b"***-**-6789"]


def test_values_in_a_wide_character_set_are_masked_on_their_text() -> None:
    """A UTF-16 value (character_set_results = NULL) is scanned as text, sent back in UTF-16."""
    policy = _policy(["t.ssn"], ["email"])
    note = ColumnOrigin("app", "t", "t", "note", "note", VARCHAR, 54)
    ssn = ColumnOrigin("app", "t", "t", "ssn", "ssn", VARCHAR, 56)
    mask = policy.plan([note, ssn])
    assert mask is not None
    row = mask.row(
        ["mail bob@example.com".encode("utf-16-be"), "123-45-6789".encode("utf-16-le")], MaskTally()
    )
    assert row == ["mail b***@example.com".encode("utf-16-be"), "***-**-6789".encode("utf-16-le")]
