"""encode() refuses messages the wire cannot carry unambiguously; the builders fill fields."""

from __future__ import annotations

import pytest

import gateway.postgres.wire as pg
from gateway.postgres.wire import EncodeError, encode

from .cases import typed


@pytest.mark.parametrize(
    "message",
    [
        pg.Query("SELECT 1\0; DROP TABLE t"),
        pg.Parse("s\0", "SELECT 1"),
        pg.StartupMessage({"": "x"}),
        pg.StartupMessage({"user": "a\0database"}),
        pg.StartupMessage({"options": "x" * 10_000}),
        pg.Describe("X", "s"),  # type: ignore[arg-type]
        pg.ReadyForQuery("Q"),  # type: ignore[arg-type]
        pg.Parse("", "SELECT 1", tuple(range(70_000))),
        pg.Bind("", "", (2**15,)),
        pg.Execute("", 2**31),
        pg.BackendKeyData(-1, 0),
        pg.AuthenticationMD5Password(b"\1\2\3"),
        pg.AuthenticationSASL(("SCRAM-SHA-256", "")),
        pg.ErrorResponse({"CC": "42501"}),
        pg.ErrorResponse({"\0": "x"}),
        pg.CopyOutResponse(256, ()),
        pg.Query("\ud800"),
        pg.DataRow(tuple([None] * 70_000)),
    ],
    ids=lambda m: type(m).__name__,
)
def test_unrepresentable_messages_raise_encode_error(message: pg.Message) -> None:
    """A NUL in a String, an empty list terminator, an overflowing count or field is refused."""
    with pytest.raises(EncodeError):
        encode(message)


def test_unknown_object_raises_encode_error() -> None:
    """Objects that are not messages are refused with EncodeError."""
    with pytest.raises(EncodeError):
        encode(object())  # type: ignore[arg-type]


def test_encode_error_is_internal() -> None:
    """An EncodeError is the gateway's fault: SQLSTATE XX000, not a protocol violation."""
    assert EncodeError("x").sqlstate == "XX000"
    assert not isinstance(EncodeError("x"), pg.ProtocolError)


def test_error_response_builder() -> None:
    """ErrorResponse.build sets S, V, C, M and the optional D and H, in that order."""
    error = pg.ErrorResponse.build(
        "ERROR", "42501", "denied by bob", detail="review R-42", hint="ask again"
    )
    assert error.fields == {
        "S": "ERROR",
        "V": "ERROR",
        "C": "42501",
        "M": "denied by bob",
        "D": "review R-42",
        "H": "ask again",
    }
    assert (error.severity, error.sqlstate, error.message) == ("ERROR", "42501", "denied by bob")
    assert encode(error) == typed(
        b"E", b"SERROR\0VERROR\0C42501\0Mdenied by bob\0Dreview R-42\0Hask again\0\0"
    )


def test_notice_response_builder_without_optional_fields() -> None:
    """NoticeResponse.build leaves out detail and hint when not given."""
    notice = pg.NoticeResponse.build("NOTICE", "00000", "held for approval")
    assert notice.fields == {"S": "NOTICE", "V": "NOTICE", "C": "00000", "M": "held for approval"}
    assert (notice.detail, notice.hint) == (None, None)
    assert isinstance(notice, pg.NoticeResponse) and not isinstance(notice, pg.ErrorResponse)


def test_localized_severity_is_a_fallback() -> None:
    """severity prefers the non-localized V field and falls back to S."""
    assert pg.ErrorResponse({"S": "FEHLER"}).severity == "FEHLER"
    assert pg.ErrorResponse({"S": "FEHLER", "V": "ERROR"}).severity == "ERROR"
