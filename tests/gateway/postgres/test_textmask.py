"""Redaction of the texts a server sends besides rows (gateway.postgres.textmask), by table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.postgres import wire as pg
from gateway.postgres.dialect import MaskingPolicy
from gateway.postgres.textmask import FROM_CODE, WITHHELD, TextMask

MASK = TextMask(MaskingPolicy(columns=["ssn"], detectors=["email", "credit_card"]))
BARE = TextMask(MaskingPolicy(columns=["ssn"]))


@pytest.mark.parametrize(
    ("message", "known", "expected"),
    [
        # values the server quotes: redacted, up to the message's last quote
        ('invalid input syntax for type integer: "ahi-af-bbcb"', "", 'integer: "***"'),
        ('invalid input syntax for type integer: "ahi"af"bbcb"', "", 'integer: "***"'),
        ('malformed array literal: "{a\'b}"', "", 'literal: "***"'),
        ("unterminated: 'ab", "", 'unterminated: "***"'),
        # values the server does not quote: tokens with a digit
        ("date field value out of range: 78-5-1121", "", "out of range: ***"),
        ('invalid byte sequence for encoding "UTF8": 0xe2 0x28', 'x "UTF8"', ": *** ***"),
        # what the client sent stays
        ('relation "no_such" does not exist', "SELECT * FROM no_such", '"no_such" does'),
        ('column "x" of relation "t2" does not exist', "ALTER TABLE t2 DROP x", '"t2" does'),
        ('invalid input syntax for type integer: "abc"', "SELECT $1::int\nabc", '"abc"'),
        ("value 70000 is out of range", "SELECT 70000::int2", "value 70000 is"),
        # but not as a part of a longer word the client sent
        ('invalid input syntax for type integer: "078"', "SELECT 0780", 'integer: "***"'),
        # the detectors run on what is left
        ("no role alice@example.com", "", "a***@example.com"),
    ],
)
def test_redact(message: str, known: str, expected: str) -> None:
    """Each message keeps its words and what the client sent; values are replaced."""
    redacted = MASK.redact(message, known)
    assert expected in redacted, redacted
    for secret in ("ahi", "bbcb", "1121", "0xe2", "a'b", "alice@"):
        if secret in message and secret not in known:
            assert secret not in redacted, redacted


def test_detail_context_and_internal_query_are_withheld() -> None:
    """DETAIL, CONTEXT and the internal query are withheld whole; SQLSTATE and names stay."""
    fields = {
        "S": "ERROR", "V": "ERROR", "C": "23505", "M": "duplicate key value violates unique "
        'constraint "t_ssn_key"', "D": "Key (ssn)=(078-05-1121) already exists.",
        "W": "JSON data, line 1: 078", "q": "SELECT '078'", "t": "t", "c": "ssn",
        "n": "t_ssn_key", "P": "8",
    }  # fmt: skip
    raw = pg.encode(pg.ErrorResponse(fields))
    out = pg.ServerParser()
    out.receive_data(MASK.message(pg.ErrorResponse(fields), memoryview(raw)))
    message = out.next_event()
    assert isinstance(message, pg.ErrorResponse)
    assert [message.fields[k] for k in "DWq"] == [WITHHELD] * 3
    assert {k: message.fields[k] for k in "SCtcnP"} == {k: fields[k] for k in "SCtcnP"}
    assert message.fields["M"].endswith('constraint "***"')


def test_messages_raised_by_database_code_are_withheld() -> None:
    """A message whose CONTEXT says a function raised it is withheld whole (any format)."""
    fields = {"S": "NOTICE", "C": "00000", "M": "value ahixafxbbcb",
              "W": "PL/pgSQL function shout() line 1 at RAISE"}  # fmt: skip
    redacted = BARE.message(pg.NoticeResponse(fields), memoryview(b""))
    out = pg.ServerParser()
    out.receive_data(redacted)
    notice = out.next_event()
    assert isinstance(notice, pg.NoticeResponse)
    assert notice.fields["M"] == FROM_CODE and notice.fields["C"] == "00000"


def test_notification_payload_is_withheld() -> None:
    """A notification keeps its channel and pid, not its payload; an empty one is as it was."""
    raw = memoryview(pg.encode(pg.NotificationResponse(7, "jobs", "078-05-1121")))
    out = pg.ServerParser()
    out.receive_data(bytes(MASK.message(pg.NotificationResponse(7, "jobs", "078-05-1121"), raw)))
    assert out.next_event() == pg.NotificationResponse(7, "jobs", "")
    empty = memoryview(pg.encode(pg.NotificationResponse(7, "jobs", "")))
    assert MASK.message(pg.NotificationResponse(7, "jobs", ""), empty) is empty


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab09-'\" .,:()\\")), min_size=1, max_size=20))
def test_no_quoted_value_survives(value: str) -> None:
    """Whatever characters a value is made of (quotes included), the server's quoted value is
    replaced whole: the message ends in the redaction, nothing of the value after it."""
    message = f'invalid input syntax for type integer: "{value}"'
    assert MASK.redact(message, "SELECT 1") == 'invalid input syntax for type integer: "***"'
