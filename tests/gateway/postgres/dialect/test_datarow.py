"""DataRow rewriting: valid messages out, unmasked columns byte-identical, bad input refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.masking import MaskTally
from gateway.postgres.dialect import (
    ColumnDescription,
    MalformedDataRowError,
    MaskingPolicy,
    RowPlan,
    encode_datarow,
    parse_datarow_body,
)
from tests.gateway.masking.factories import card_numbers, emails
from tests.gateway.postgres.dialect.factories import body, int8

TEXT, INT8, BOOL = 25, 20, 16
COLUMNS = [
    ColumnDescription("id", 0, 0, INT8),
    ColumnDescription("note", 0, 0, TEXT),
    ColumnDescription("ssn", 0, 0, TEXT),
    ColumnDescription("active", 0, 0, BOOL),
    ColumnDescription("card", 0, 0, INT8, 1),
]
PLAN = MaskingPolicy(columns=["ssn", "card"], detectors=["credit_card", "email"]).plan(COLUMNS)


def parse_message(message: bytes) -> tuple[bytes | None, ...]:
    """Check the framing of a complete DataRow message and return its values."""
    assert message[:1] == b"D"
    assert struct.unpack_from("!i", message, 1)[0] == len(message) - 1
    return parse_datarow_body(message[5:])


def test_rewrite_masks_and_reframes() -> None:
    """Masked values get fresh lengths; the message length covers the new body."""
    row = [b"7", b"mail ann@example.com", b"123-45-6789", b"t", int8(4111111111111111)]
    tally = MaskTally()
    message = PLAN.rewrite_datarow(body(row), tally)
    assert message is not None
    assert parse_message(message) == (b"7", b"mail a***@example.com", b"***-**-6789", b"t", None)
    counts = tally.counts()
    assert counts.columns == {"ssn": 1, "card": 1}
    assert counts.detectors == {"email": 1}


def test_untouched_rows_return_none() -> None:
    """No change means None: the proxy forwards the original bytes."""
    assert PLAN.rewrite_datarow(body([b"7", b"hello", None, b"t", None])) is None


def test_null_planned_columns_are_skipped() -> None:
    """NULL in every planned column leaves the row as it is."""
    assert PLAN.rewrite_datarow(body([None, None, None, None, None])) is None


def test_noop_plan_only_validates() -> None:
    """A noop plan never rewrites, but still refuses a malformed body."""
    plan = MaskingPolicy(columns=["x"]).plan(COLUMNS)
    assert plan.is_noop
    assert plan.rewrite_datarow(body([b"1", b"2", b"3", b"4", b"5"])) is None
    with pytest.raises(MalformedDataRowError):
        plan.rewrite_datarow(body([b"1", b"2", b"3", b"4", b"5"])[:-1])


def test_encode_and_parse_round_trip() -> None:
    """encode_datarow and parse_datarow_body are inverse, NULL included."""
    values = (b"", None, b"abc", b"\x00\xff")
    message = encode_datarow(values)
    assert message == b"D\x00\x00\x00\x1b\x00\x04" + b"\x00\x00\x00\x00" + b"\xff" * 4 + (
        b"\x00\x00\x00\x03abc\x00\x00\x00\x02\x00\xff"
    )
    assert parse_message(message) == values


row_values = st.one_of(
    st.none(),
    st.binary(max_size=30),
    card_numbers().map(str.encode),
    emails.map(lambda e: f"to {e}".encode()),
)


@given(st.lists(row_values, min_size=5, max_size=5))
def test_rewritten_rows_stay_valid_and_unmasked_columns_byte_identical(
    values: list[bytes | None],
) -> None:
    """Whatever the values, the output parses back, and columns that did not change are the
    very same bytes."""
    values[0] = values[0] if values[0] is None else b"42"  # an int8 text value
    values[4] = values[4] if values[4] is None else int8(1)  # a binary int8
    message = PLAN.rewrite_datarow(body(values))
    expected, _ = PLAN.apply(values)
    if message is None:
        assert expected is None
        return
    out = parse_message(message)
    assert out == expected
    assert out[0] == values[0]  # detectors found nothing in a small int8
    assert out[3] == values[3]  # not planned
    assert out[4] is None  # a rule on a binary int8: NULL
    note = values[1]
    if note is not None and b"@" not in note and sum(c in b"0123456789" for c in note) < 13:
        assert out[1] == note  # nothing an enabled detector could match


@given(card=card_numbers(), email=emails)
def test_masked_rows_never_contain_the_original_values(card: str, email: str) -> None:
    """A card and an address in text columns never survive the rewrite."""
    message = PLAN.rewrite_datarow(
        body([b"1", f"{card} / {email}".encode(), card.encode(), None, None])
    )
    assert message is not None
    assert card.encode() not in message
    assert email.encode() not in message


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00",
        b"\x00\x04",  # count mismatch (plan has 5)
        b"\x00\x05",  # no lengths at all
        b"\x00\x05\x00\x00\x00",  # truncated length
        b"\x00\x05\x00\x00\x00\x05ab",  # length overruns the body
        b"\x00\x05\xff\xff\xff\xfe",  # length -2
        body([b"1", b"2", b"3", b"4", b"5"]) + b"x",  # trailing byte
        body([b"1", b"2", b"3", b"4"]) + b"\x00\x00\x00",  # last length truncated
        b"\xff\xff" + body([b"1", b"2", b"3", b"4", b"5"])[2:],  # count -1
    ],
)
def test_malformed_bodies_raise_masking_errors(raw: bytes) -> None:
    """Structural damage is MalformedDataRowError, never IndexError or struct.error."""
    with pytest.raises(MalformedDataRowError):
        PLAN.rewrite_datarow(raw)
    with pytest.raises(MalformedDataRowError):
        parse_datarow_body(raw if raw[:2] != b"\x00\x04" else raw + b"\x00")


def test_binary_int_of_wrong_width_is_malformed() -> None:
    """A binary int8 column whose value is not 4 or 8 bytes cannot be scanned."""
    plan = MaskingPolicy(detectors=["credit_card"]).plan([ColumnDescription("n", 0, 0, INT8, 1)])
    with pytest.raises(MalformedDataRowError):
        plan.rewrite_datarow(body([b"\x01\x02\x03"]))


def plans() -> list[RowPlan]:
    """Plans of every shape: rule-only, detector-only, noop."""
    return [
        PLAN,
        MaskingPolicy(detectors=["credit_card", "ssn", "email", "phone"]).plan(COLUMNS),
        MaskingPolicy(columns=["nothing"]).plan(COLUMNS),
    ]


@given(st.binary(max_size=60))
def test_random_bytes_either_parse_or_raise_masking_error(raw: bytes) -> None:
    """Arbitrary bytes never escape as another exception type."""
    for plan in plans():
        try:
            message = plan.rewrite_datarow(b"\x00\x05" + raw)
        except MalformedDataRowError:
            continue
        if message is not None:
            assert len(parse_message(message)) == 5


@given(st.lists(st.one_of(st.none(), st.binary(max_size=8)), min_size=5, max_size=5), st.data())
def test_corrupted_lengths_raise_masking_error(
    values: list[bytes | None], data: st.DataObject
) -> None:
    """Flipping bytes of a valid body yields a valid result or MalformedDataRowError."""
    raw = bytearray(body(values))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    for plan in plans():
        try:
            message = plan.rewrite_datarow(bytes(raw))
        except MalformedDataRowError:
            continue
        if message is not None:
            assert len(parse_message(message)) == 5
