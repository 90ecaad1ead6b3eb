"""Policies and row plans: configuration errors, column binding, type eligibility, values."""

from __future__ import annotations

import json
import struct

import pytest

from gateway.masking import (
    NO_MASKS,
    InvalidColumnSpecError,
    MaskCounts,
    MaskingConfigError,
    MaskingError,
    UnknownDetectorError,
)
from gateway.postgres.dialect import (
    ColumnDescription,
    InvalidColumnDescriptionError,
    MalformedDataRowError,
    MaskingPolicy,
)
from tests.gateway.masking.factories import JWT_TOKEN
from tests.gateway.postgres.dialect.factories import int8

TEXT, VARCHAR, BPCHAR, NAME, UNKNOWN, JSON, JSONB = 25, 1043, 1042, 19, 705, 114, 3802
INT2, INT4, INT8, NUMERIC, FLOAT8, BOOL, DATE, UUID, BYTEA = (
    21,
    23,
    20,
    1700,
    701,
    16,
    1082,
    2950,
    17,
)
TEXT_ARRAY, JSON_ARRAY = 1009, 199
USERS = 16400
NAMES = {
    (USERS, 1): ("public.users", "id"),
    (USERS, 2): ("public.users", "email"),
    (USERS, 3): ("public.users", "ssn"),
    (USERS, 4): ("public.users", "notes"),
    (16500, 1): ("billing.orders", "ssn"),
}
ALL_DETECTORS = ["credit_card", "ssn", "email", "iban", "phone", "aws_access_key", "jwt"]


def col(
    name: str, type_oid: int = TEXT, *, fmt: int = 0, attr: int = 0, table: int = 0
) -> ColumnDescription:
    """A column description; table 0 means an expression."""
    return ColumnDescription(name, table, attr, type_oid, fmt)


def test_unknown_detector_is_a_typed_config_error() -> None:
    """A misspelt detector name fails loading with the known names listed."""
    with pytest.raises(UnknownDetectorError) as info:
        MaskingPolicy(detectors=["credit_card", "creditcard"])
    assert info.value.name == "creditcard"
    assert "credit_card" in info.value.known
    assert isinstance(info.value, MaskingConfigError)
    assert isinstance(info.value, MaskingError)


@pytest.mark.parametrize("spec", ["", "a..b", ".ssn", "a.b.c.d", "has space", '"Quoted"', 42])
def test_invalid_column_specs_are_rejected(spec: object) -> None:
    """Column specs are name, table.name or schema.table.name, nothing else."""
    with pytest.raises(InvalidColumnSpecError):
        MaskingPolicy(columns=[spec])  # type: ignore[list-item]


def test_a_string_instead_of_a_list_is_rejected() -> None:
    """columns = "ssn" (a common TOML slip) is an error, not five one-letter rules."""
    with pytest.raises(MaskingConfigError):
        MaskingPolicy(columns="ssn")


def test_the_architecture_example_config_loads() -> None:
    """The example connection's masking table builds a policy."""
    policy = MaskingPolicy(
        columns=["ssn", "card_number", "email"], detectors=["credit_card", "ssn", "email"]
    )
    assert not policy.is_empty
    assert MaskingPolicy().is_empty


def test_rules_bind_to_the_real_column_through_the_catalog() -> None:
    """SELECT email AS contact is masked; SELECT notes AS ssn is not (by rule)."""
    policy = MaskingPolicy(columns=["email", "ssn"])
    plan = policy.plan(
        [col("contact", attr=2, table=USERS), col("ssn", attr=4, table=USERS)], NAMES
    )
    assert [(m.index, m.rule, m.source) for m in plan.masked] == [
        (0, "email", "public.users.email")
    ]
    values, counts = plan.apply([b"jane@example.com", b"just notes"])
    assert values == (b"j***@example.com", b"just notes")
    assert counts == MaskCounts(columns={"email": 1})


def test_table_qualified_rules_check_table_and_schema() -> None:
    """users.ssn masks public.users.ssn but not billing.orders.ssn; schema specs too."""
    cols = [col("ssn", attr=3, table=USERS), col("ssn", attr=1, table=16500)]
    assert [m.index for m in MaskingPolicy(columns=["users.ssn"]).plan(cols, NAMES).masked] == [0]
    assert [
        m.index for m in MaskingPolicy(columns=["billing.orders.ssn"]).plan(cols, NAMES).masked
    ] == [1]
    assert MaskingPolicy(columns=["other.users.ssn"]).plan(cols, NAMES).is_noop


def test_unresolved_columns_fall_back_to_the_reported_name() -> None:
    """Expressions (table OID 0) and unknown catalog entries match by name, any qualifier."""
    policy = MaskingPolicy(columns=["users.SSN"])
    plan = policy.plan([col("ssn"), col("SSN", attr=9, table=99999), col("other")], NAMES)
    assert [m.index for m in plan.masked] == [0, 1]
    assert plan.masked[0].source is None


def test_a_plan_without_masked_columns_is_noop() -> None:
    """Nothing to mask means is_noop and apply returns None."""
    plan = MaskingPolicy(columns=["ssn"]).plan([col("id", INT8), col("name")])
    assert plan.is_noop
    assert plan.apply([b"1", b"x"]) == (None, NO_MASKS)
    assert MaskingPolicy().plan([col("name")]).is_noop


@pytest.mark.parametrize(
    "type_oid", [TEXT, VARCHAR, BPCHAR, NAME, UNKNOWN, JSON, JSONB, TEXT_ARRAY]
)
def test_detectors_run_on_text_like_types(type_oid: int) -> None:
    """Text-like columns get detectors."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("x", type_oid)])
    assert [m.detectors for m in plan.masked] == [("email",)]


@pytest.mark.parametrize("type_oid", [BOOL, DATE, FLOAT8, UUID, INT2, 1184, 869, 3904])
def test_detectors_never_run_on_types_that_cannot_hold_entities(type_oid: int) -> None:
    """bool, dates, floats, uuid, int2, timestamptz, inet and int4range are not scanned."""
    assert MaskingPolicy(detectors=ALL_DETECTORS).plan([col("x", type_oid)]).is_noop


@pytest.mark.parametrize("fmt", [0, 1])
@pytest.mark.parametrize("type_oid", [BYTEA, 2249, 3614, 999999])
def test_values_of_types_that_may_hold_text_are_nulled_on_a_find(type_oid: int, fmt: int) -> None:
    """bytea, records, tsvector and unknown OIDs (composites, enums, extension types) may hold
    text: a value the detectors find anything in is nulled whole, text or binary."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("x", type_oid, fmt=fmt)])
    found, _ = plan.apply([b"(1,alice@example.com)"])
    assert found == (None,)
    kept, _ = plan.apply([b"(1,nothing here)"])
    assert kept is None


def test_integer_columns_are_scanned_only_when_they_can_hold_the_entity() -> None:
    """int8/numeric can hold a card; int4 cannot; int4 can hold an SSN in an ssn column."""
    cards = MaskingPolicy(detectors=["credit_card", "email"])
    assert [
        m.index for m in cards.plan([col("a", INT8), col("b", NUMERIC), col("c", INT4)]).masked
    ] == [0, 1]
    ssn = MaskingPolicy(detectors=["ssn"])
    assert ssn.plan([col("id", INT4)]).is_noop
    assert not ssn.plan([col("ssn", INT4)]).is_noop


def test_card_numbers_stored_as_numbers_become_zero() -> None:
    """An int8/numeric card is replaced by 0, a valid value of the type."""
    plan = MaskingPolicy(detectors=["credit_card"]).plan(
        [col("a", INT8), col("b", NUMERIC), col("c", INT8), col("d", INT8, fmt=1)]
    )
    values, counts = plan.apply(
        [b"4111111111111111", b"4111111111111111.00", b"1234567812345670", int8(4111111111111111)]
    )
    assert values == (b"0", b"0", b"1234567812345670", int8(0))
    assert counts.detectors == {"credit_card": 3}


def test_ssn_stored_as_integer_needs_column_context() -> None:
    """An ssn integer column (leading zeros lost) is masked to 0; an id column is not."""
    plan = MaskingPolicy(detectors=["ssn"]).plan([col("ssn", INT8), col("id", INT8)])
    assert [m.index for m in plan.masked] == [0]
    assert plan.apply([b"12345678", b"123456789"])[0] == (b"0", b"123456789")


@pytest.mark.parametrize(
    ("type_oid", "fmt", "value", "expected"),
    [
        (TEXT, 0, b"123-45-6789", b"***-**-6789"),
        (VARCHAR, 1, b"123-45-6789", b"***-**-6789"),  # binary text is the same UTF-8
        (INT8, 0, b"123456789", b"0"),
        (NUMERIC, 0, b"12.50", b"0"),
        (FLOAT8, 0, b"1.5e10", b"0"),
        (INT8, 1, int8(123456789), None),
        (BYTEA, 1, b"\x00\x01", None),
        (UUID, 0, b"123e4567-e89b-12d3-a456-426614174000", None),
        (DATE, 0, b"1990-01-31", None),
        (BOOL, 0, b"t", None),
        (TEXT_ARRAY, 0, b"{a,b}", None),
        (JSON, 0, b'"123-45-6789"', b'"***-**-6789"'),
        (JSONB, 0, b'{"a": 1}', b'"********"'),
        (JSONB, 1, b'\x01{"a": 1}', b'\x01"********"'),
    ],
)
def test_column_rules_keep_values_valid_for_type_and_format(
    type_oid: int, fmt: int, value: bytes, expected: bytes | None
) -> None:
    """Text gets a partial mask, numbers 0, JSON a JSON string, anything else NULL."""
    plan = MaskingPolicy(columns=["secret"]).plan([col("secret", type_oid, fmt=fmt)])
    values, counts = plan.apply([value])
    assert values == (expected,)
    assert counts.columns == {"secret": 1}


def test_binary_non_text_column_with_a_rule_becomes_null() -> None:
    """No safe partial value exists for a binary int8, so the rule yields NULL."""
    plan = MaskingPolicy(columns=["card_number"]).plan([col("card_number", INT8, fmt=1)])
    assert plan.apply([int8(4111111111111111)])[0] == (None,)


def test_binary_text_detectors_keep_utf8_valid() -> None:
    """A binary varchar is UTF-8 bytes: masking it keeps non-ASCII text intact."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("x", VARCHAR, fmt=1)])
    value = "Zoë — zoë@exämple.com, ok zoe@example.com ☃".encode()
    new = plan.apply([value])[0]
    assert new is not None and new[0] is not None
    assert new[0].decode("utf-8") == "Zoë — zoë@exämple.com, ok z***@example.com ☃"


def test_json_detectors_keep_documents_valid() -> None:
    """Strings are masked in place, numbers become 0, escapes do not hide an entity."""
    plan = MaskingPolicy(detectors=ALL_DETECTORS).plan([col("doc", JSONB)])
    doc = {
        "card": 4111111111111111,
        "note": "pay\n4111 1111 1111 1111",
        "mail": "jane@example.com",
        "tok": JWT_TOKEN,
        "n": 3,
    }
    values, counts = plan.apply([json.dumps(doc).encode()])
    assert values is not None and values[0] is not None
    assert json.loads(values[0]) == {
        "card": 0,
        "note": "pay\n**** **** **** 1111",
        "mail": "j***@example.com",
        "tok": "[masked jwt]",
        "n": 3,
    }
    assert counts.detectors == {"credit_card": 2, "email": 1, "jwt": 1}


def test_jsonb_binary_keeps_its_version_byte() -> None:
    """Binary jsonb is 0x01 + JSON text; the mask keeps that shape."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("doc", JSONB, fmt=1)])
    assert plan.apply([b'\x01["ann@example.com"]'])[0] == (b'\x01["a***@example.com"]',)
    assert plan.apply([b'\x02["ann@example.com"]'])[0] == (None,)


def test_text_arrays_are_masked_and_stay_parseable() -> None:
    """Array elements are masked; an unquoted element never gains a space."""
    plan = MaskingPolicy(detectors=ALL_DETECTORS).plan([col("tags", TEXT_ARRAY)])
    value = f'{{a,4111111111111111,"x 123-45-6789",{JWT_TOKEN}}}'.encode()
    assert plan.apply([value])[0] == (b'{a,************1111,"x ***-**-6789",[masked_jwt]}',)


def test_json_arrays_with_a_finding_become_null() -> None:
    """json[] text cannot be masked in place safely, so a hit nulls it."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("docs", JSON_ARRAY)])
    assert plan.apply([b'{"{\\"m\\": \\"a@example.com\\"}"}'])[0] == (None,)
    assert plan.apply([b'{"{}"}'])[0] is None


def test_binary_text_arrays_are_rebuilt() -> None:
    """A binary text[] has its elements masked and lengths rewritten."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("tags", TEXT_ARRAY, fmt=1)])
    elements = [b"ann@example.com", None, b"plain"]
    header = struct.pack("!iiIii", 1, 1, TEXT, len(elements), 1)
    encoded = b"".join(
        b"\xff\xff\xff\xff" if e is None else struct.pack("!i", len(e)) + e for e in elements
    )
    new = plan.apply([header + encoded])[0]
    expected = [b"a***@example.com", None, b"plain"]
    rebuilt = b"".join(
        b"\xff\xff\xff\xff" if e is None else struct.pack("!i", len(e)) + e for e in expected
    )
    assert new == (header + rebuilt,)


def test_truncated_binary_array_is_malformed() -> None:
    """A binary array whose sizes exceed the value raises MalformedDataRowError."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("tags", TEXT_ARRAY, fmt=1)])
    with pytest.raises(MalformedDataRowError):
        plan.apply([struct.pack("!iiIii", 1, 0, TEXT, 1000, 1) + b"\x00\x00"])


def test_column_name_context_enables_bare_forms() -> None:
    """A customer_ssn column masks bare 9 digits; a notes column leaves them."""
    plan = MaskingPolicy(detectors=["ssn", "phone"]).plan(
        [col("customer_ssn"), col("notes"), col("mobile")]
    )
    assert plan.masked[0].context == ("ssn",)
    values = plan.apply([b"123456789", b"123456789", b"4155552671"])[0]
    assert values == (b"*****6789", b"123456789", b"******2671")


def test_context_also_comes_from_the_real_column_name() -> None:
    """SELECT ssn AS x: the catalog name gives the context."""
    plan = MaskingPolicy(detectors=["ssn"]).plan([col("x", attr=3, table=USERS)], NAMES)
    assert plan.apply([b"123456789"])[0] == (b"*****6789",)


def test_extra_text_type_oids_are_scanned() -> None:
    """A citext column (OID known only at run time) is treated as text when named (masked in
    place); unnamed, it is a type that may hold text (nulled on a find)."""
    policy = MaskingPolicy(detectors=["email"])
    unnamed, _ = policy.plan([col("x", 90001)]).apply([b"alice@example.com"])
    assert unnamed == (None,)
    named, _ = policy.plan([col("x", 90001)], text_type_oids={90001}).apply([b"alice@example.com"])
    assert named == (b"a***@example.com",)


def test_plans_are_cached_per_description() -> None:
    """The same RowDescription (and resolved names) gets the same plan object."""
    policy = MaskingPolicy(detectors=["email"])
    cols = [col("a"), col("b", INT4)]
    assert policy.plan(cols) is policy.plan(list(cols))
    assert policy.plan(cols) is not policy.plan([col("a")])


def test_invalid_format_code_is_rejected() -> None:
    """A format code other than 0/1 is an input error."""
    with pytest.raises(InvalidColumnDescriptionError):
        MaskingPolicy(detectors=["email"]).plan([col("a", fmt=2)])


def test_apply_checks_the_value_count() -> None:
    """A value list of the wrong length is malformed."""
    plan = MaskingPolicy(detectors=["email"]).plan([col("a")])
    with pytest.raises(MalformedDataRowError):
        plan.apply([b"x", b"y"])


def test_apply_skips_nulls_and_reports_nothing_changed() -> None:
    """NULLs and clean values leave the row untouched: None and no counts."""
    plan = MaskingPolicy(columns=["a"], detectors=["email"]).plan([col("a"), col("b")])
    assert plan.apply([None, b"clean"]) == (None, NO_MASKS)
    assert not NO_MASKS


def test_counts_add_up() -> None:
    """MaskCounts merge by key and total over both kinds."""
    total = MaskCounts(columns={"ssn": 1}) + MaskCounts({"ssn": 2}, {"email": 3})
    assert total == MaskCounts({"ssn": 3}, {"email": 3})
    assert total.total == 6


def test_json_finding_that_cannot_be_placed_fails_closed() -> None:
    """A hit spanning several JSON tokens cannot be masked in place: the value becomes null."""
    plan = MaskingPolicy(detectors=["credit_card"]).plan([col("doc", JSON)])
    assert plan.apply([b"[4111 1111 1111 1111]"])[0] == (b"null",)


def test_planned_columns_describe_what_runs() -> None:
    """masked lists rule columns with their spec and detector columns with the detectors that
    can match that type."""
    policy = MaskingPolicy(columns=["email"], detectors=["credit_card", "email", "phone"])
    plan = policy.plan([col("email"), col("n", INT8), col("phone_no")])
    assert [(m.rule, m.detectors, m.context) for m in plan.masked] == [
        ("email", (), ()),
        (None, ("credit_card",), ()),
        (None, ("credit_card", "email", "phone"), ("phone",)),
    ]


def test_derived_outputs_without_an_origin_are_masked_whole() -> None:
    """An expression column computed from a masked column (``derived``) is masked like the
    column itself; a column with an origin, or one not named in the positions, is not."""
    policy = MaskingPolicy(columns=["ssn"])
    columns = [
        col("id", INT4, attr=1, table=USERS),
        col("x"),  # ssn || '' : no origin
        col("upper"),  # upper(notes): no origin, not derived
        col("notes", attr=4, table=USERS),
    ]
    plan = policy.plan(columns, NAMES, derived=("ssn", frozenset({1})))
    values = (b"1", b"078051120", b"HELLO", b"plain")
    masked, counts = plan.apply(values)
    assert masked is not None
    assert masked[0] == b"1" and masked[2] == b"HELLO" and masked[3] == b"plain"
    assert masked[1] is not None and b"078051120" not in masked[1]
    assert counts.columns == {"ssn": 1}
    everything = policy.plan(columns, NAMES, derived=("ssn", None))
    masked_all, _ = everything.apply(values)
    assert masked_all is not None and masked_all[2] != b"HELLO" and masked_all[3] == b"plain"
    assert policy.plan(columns, NAMES).is_noop


@pytest.mark.parametrize("fmt", [0, 1])
def test_a_whole_row_of_a_table_is_nulled(fmt: int) -> None:
    """A column reported as attribute 0 of a table (a whole row) is NULL whatever the rules:
    the backstop behind the statement checks (dialect.leaks)."""
    plan = MaskingPolicy(columns=["ssn"]).plan([col("c", 99999, fmt=fmt, attr=0, table=16384)])
    masked, counts = plan.apply([b"(1,078-05-1121)"])
    assert masked == (None,) and counts.columns == {"whole row": 1}
    assert [m.rule for m in plan.masked] == ["whole row"]


def test_bytea_text_form_is_read_as_the_bytes_it_encodes() -> None:
    """bytea in text format is hex: decoded before the detectors read it; an undecodable value
    is nulled (fail closed); a value with nothing found is forwarded untouched."""
    plan = MaskingPolicy(detectors=["email", "credit_card"]).plan([col("b", BYTEA)])
    found, counts = plan.apply([b"\\x" + b"card 4111111111111111".hex().encode()])
    assert found == (None,) and counts.detectors == {"credit_card": 1}
    assert plan.apply([b"\\xzz"])[0] == (None,)
    assert plan.apply([b"\\x0102"])[0] is None
