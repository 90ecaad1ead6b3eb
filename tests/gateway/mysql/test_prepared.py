"""The prepared-statement commands (MySQL "COM_STMT_*"; MariaDB "COM_STMT_BULK_EXECUTE"): one
table of cases for encode and decode with every truncation, statement id rewriting, the text
form of parameters, and Hypothesis over random bytes and random executes."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.mysql.wire import EncodeError, MalformedPacket
from gateway.mysql.wire.prepared import (
    LAST_STATEMENT_ID,
    BoundParam,
    BulkFlag,
    BulkIndicator,
    ExecuteFlag,
    StmtBulkExecute,
    StmtClose,
    StmtExecute,
    StmtFetch,
    StmtMessage,
    StmtPrepare,
    StmtPrepareOk,
    StmtReset,
    StmtSendLongData,
    decode_bulk_execute,
    decode_close,
    decode_execute,
    decode_fetch,
    decode_prepare,
    decode_prepare_ok,
    decode_reset,
    decode_send_long_data,
    encode,
    peek_statement_id,
    rewrite_statement_id,
    with_statement_id,
)
from gateway.mysql.wire.types import PARAM_UNSIGNED, ColumnType

T = ColumnType
ID7 = b"\x07\x00\x00\x00"

Decoder = Callable[[bytes], StmtMessage]

# (message, payload, decoder, every cut is malformed): the decoder carries the context a
# listener keeps per statement (parameter count, earlier types, long data, query attributes).
CASES: list[tuple[StmtMessage, bytes, Decoder, bool]] = [
    (StmtPrepare(b"SELECT ?"), b"\x16SELECT ?", decode_prepare, False),
    (
        StmtPrepareOk(7, 2, 1, 0),
        b"\x00" + ID7 + b"\x02\x00\x01\x00\x00\x00\x00",
        decode_prepare_ok,
        False,
    ),
    (
        StmtPrepareOk(7, 0, 0, None),
        b"\x00" + ID7 + b"\x00\x00\x00\x00\x00",
        decode_prepare_ok,
        True,
    ),
    (
        StmtPrepareOk(7, 1, 0, 3, 1),
        b"\x00" + ID7 + b"\x01\x00\x00\x00\x00\x03\x00\x01",
        decode_prepare_ok,
        False,
    ),
    (StmtClose(7), b"\x19" + ID7, decode_close, True),
    (StmtReset(7), b"\x1a" + ID7, decode_reset, True),
    (StmtFetch(7, 100), b"\x1c" + ID7 + b"\x64\x00\x00\x00", decode_fetch, True),
    (
        StmtSendLongData(7, 1, b"chunk"),
        b"\x18" + ID7 + b"\x01\x00chunk",
        decode_send_long_data,
        False,
    ),
    (
        StmtExecute(7, ExecuteFlag.NO_CURSOR, ()),
        b"\x17" + ID7 + b"\x00\x01\x00\x00\x00",
        partial(decode_execute, num_params=0),
        True,
    ),
    (
        StmtExecute(
            LAST_STATEMENT_ID,
            ExecuteFlag.READ_ONLY,
            (
                BoundParam(T.LONGLONG, PARAM_UNSIGNED, b"\xff" * 8),
                BoundParam(T.VAR_STRING, 0, None),
                BoundParam(T.VAR_STRING, 0, b"x'; DROP TABLE t; --"),
                BoundParam(T.DATETIME, 0, b"\xe8\x07\x01\x02"),
                BoundParam(T.NULL, 0, None),
                BoundParam(T.DOUBLE, 0, struct.pack("<d", 2.5)),
                BoundParam(T.TIME, 0, b""),
                BoundParam(T.TINY, 0, b"\x01"),
                BoundParam(T.BLOB, 0, None),
            ),
        ),
        b"\x17\xff\xff\xff\xff\x01\x01\x00\x00\x00"
        + b"\x12\x01"  # NULL bitmap: parameters 1, 4 and 8
        + b"\x01"  # new-params-bound
        + b"\x08\x80\xfd\x00\xfd\x00\x0c\x00\x06\x00\x05\x00\x0b\x00\x01\x00\xfc\x00"
        + b"\xff" * 8
        + b"\x14x'; DROP TABLE t; --"
        + b"\x04\xe8\x07\x01\x02"
        + struct.pack("<d", 2.5)
        + b"\x00"
        + b"\x01",
        partial(decode_execute, num_params=9),
        True,
    ),
    (
        StmtExecute(
            7, 0, (BoundParam(T.LONG, 0, b"\x05\x00\x00\x00"), BoundParam(T.TINY, 0, None)), False
        ),
        b"\x17" + ID7 + b"\x00\x01\x00\x00\x00\x02\x00\x05\x00\x00\x00",
        partial(decode_execute, num_params=2, previous_types=[(T.LONG, 0), (T.TINY, 0)]),
        True,
    ),
    (
        StmtExecute(
            7, 0, (BoundParam(T.BLOB, 0, None, long_data=True), BoundParam(T.TINY, 0, b"\x02"))
        ),
        b"\x17" + ID7 + b"\x00\x01\x00\x00\x00\x00\x01\xfc\x00\x01\x00\x02",
        partial(decode_execute, num_params=2, long_data={0}),
        True,
    ),
    (
        StmtExecute(
            7, 0, (BoundParam(T.TINY, 0, b"\x01"), BoundParam(T.VAR_STRING, 0, b"v", b"attr"))
        ),
        b"\x17" + ID7 + b"\x00\x01\x00\x00\x00\x02\x00\x01\x01\x00\x00\xfd\x00\x04attr\x01\x01v",
        partial(decode_execute, num_params=1, query_attributes=True),
        True,
    ),
    (
        StmtExecute(7, ExecuteFlag.PARAMETER_COUNT_AVAILABLE, ()),
        b"\x17" + ID7 + b"\x08\x01\x00\x00\x00\x00",
        partial(decode_execute, num_params=0, query_attributes=True),
        True,
    ),
    (
        StmtBulkExecute(
            7,
            BulkFlag.SEND_TYPES_TO_SERVER,
            ((T.LONG, 0), (T.VAR_STRING, 0)),
            (
                (b"\x01\x00\x00\x00", b"a"),
                (BulkIndicator.NULL, BulkIndicator.DEFAULT),
                (b"\x03\x00\x00\x00", BulkIndicator.IGNORE),
            ),
        ),
        b"\xfa"
        + ID7
        + b"\x80\x00\x03\x00\xfd\x00"
        + b"\x00\x01\x00\x00\x00\x00\x01a"
        + b"\x01\x02"
        + b"\x00\x03\x00\x00\x00\x03",
        partial(decode_bulk_execute, num_params=2),
        False,
    ),
    (
        StmtBulkExecute(7, 0, ((T.TINY, PARAM_UNSIGNED),), ((b"\xff",),)),
        b"\xfa" + ID7 + b"\x00\x00\x00\xff",
        partial(decode_bulk_execute, num_params=1, previous_types=[(T.TINY, PARAM_UNSIGNED)]),
        False,
    ),
]


def _attributes(decoder: Decoder) -> bool:
    """Whether the decoder was given CLIENT_QUERY_ATTRIBUTES (encode needs the same)."""
    return isinstance(decoder, partial) and bool(decoder.keywords.get("query_attributes"))


@pytest.mark.parametrize(("message", "payload", "decoder", "strict"), CASES)
def test_table(message: StmtMessage, payload: bytes, decoder: Decoder, strict: bool) -> None:
    """Each message encodes to its bytes and back; a cut payload is only ever MalformedPacket."""
    assert encode(message, query_attributes=_attributes(decoder)) == payload
    assert decoder(payload) == message
    for cut in range(len(payload)):
        try:
            shorter = decoder(payload[:cut])
        except MalformedPacket:
            continue
        assert not strict, cut
        assert shorter != message
    if strict:
        with pytest.raises(MalformedPacket):
            decoder(payload + b"\x00")


def test_execute_refuses_what_it_cannot_delimit() -> None:
    """Unbound types, a short parameter count, a bad bound flag and unknown types fail closed."""
    head = b"\x17" + ID7 + b"\x00\x01\x00\x00\x00"
    with pytest.raises(MalformedPacket, match="never bound"):
        decode_execute(head + b"\x00\x00\x05", num_params=1)
    with pytest.raises(MalformedPacket, match="never bound"):
        decode_execute(head + b"\x00\x00\x05", num_params=1, previous_types=[(T.TINY, 0)] * 2)
    with pytest.raises(MalformedPacket, match="parameter count"):
        decode_execute(head + b"\x00", num_params=1, query_attributes=True)
    huge = head + b"\xfd\x00\x00\x01" + bytes(1 << 21) + b"\x01"  # 2**24 parameters, all NULL
    with pytest.raises(MalformedPacket, match="parameter count"):
        decode_execute(huge, num_params=1, query_attributes=True)
    with pytest.raises(MalformedPacket, match="neither 0 nor 1"):
        decode_execute(head + b"\x00\x02\x01\x00\x05", num_params=1)
    with pytest.raises(MalformedPacket, match="no binary value"):
        decode_execute(head + b"\x00\x01\x0e\x00\x05", num_params=1)
    with pytest.raises(MalformedPacket):
        decode_execute(b"\x16" + ID7, num_params=0)
    with pytest.raises(MalformedPacket, match="indicator"):
        decode_bulk_execute(b"\xfa" + ID7 + b"\x80\x00\x01\x00\x04", num_params=1)
    with pytest.raises(MalformedPacket, match="never bound"):
        decode_bulk_execute(b"\xfa" + ID7 + b"\x00\x00", num_params=1)
    with pytest.raises(MalformedPacket, match="filler"):
        decode_prepare_ok(b"\x00" + ID7 + b"\x00\x00\x00\x00\x01")


def test_encode_refuses_impossible_messages() -> None:
    """A NONE indicator without a value, a short bulk row, metadata without warnings fail."""
    with pytest.raises(EncodeError):
        encode(StmtBulkExecute(7, 0, ((T.TINY, 0),), ((BulkIndicator.NONE,),)))
    with pytest.raises(EncodeError):
        encode(StmtBulkExecute(7, 0, ((T.TINY, 0),), ((),)))
    with pytest.raises(EncodeError):
        encode(StmtPrepareOk(7, 0, 0, None, 1))
    with pytest.raises(EncodeError):
        encode(StmtClose(1 << 32))


def test_statement_ids_are_rewritten() -> None:
    """The listener's id mapping: a payload keeps every other byte, a message every field."""
    payload = CASES[9][1]
    rewritten = rewrite_statement_id(payload, 42)
    assert peek_statement_id(rewritten) == 42
    assert rewritten[5:] == payload[5:]
    assert decode_execute(rewritten, num_params=9) == with_statement_id(
        decode_execute(payload, num_params=9), 42
    )
    assert peek_statement_id(rewrite_statement_id(b"\x00" + ID7 + bytes(7), 3)) == 3
    assert with_statement_id(StmtFetch(7, 1), 9) == StmtFetch(9, 1)
    with pytest.raises(MalformedPacket):
        rewrite_statement_id(b"\x03SELECT 1", 3)
    with pytest.raises(MalformedPacket):
        peek_statement_id(b"\x19\x07")
    with pytest.raises(EncodeError):
        with_statement_id(StmtPrepare(b"x"), 3)  # type: ignore[type-var]


def test_param_texts() -> None:
    """Parameters render as the text protocol would send them; long data comes from the caller."""
    execute = decode_execute(CASES[9][1], num_params=9)
    assert execute == CASES[9][0]
    assert execute.param_texts() == (
        b"18446744073709551615",
        None,
        b"x'; DROP TABLE t; --",
        b"2024-01-02 00:00:00",
        None,
        b"2.5",
        b"00:00:00",
        b"1",
        None,
    )
    long = decode_execute(CASES[11][1], num_params=2, long_data={0})
    assert long == CASES[11][0]
    assert long.param_texts({0: b"gathered"}) == (b"gathered", b"2")
    with pytest.raises(EncodeError):
        long.param_texts()


# Each decoder with its own command byte (a foreign byte is tried too, a tenth of the time).
DECODERS: list[tuple[int, Decoder]] = [
    (0x16, decode_prepare),
    (0x00, decode_prepare_ok),
    (0x19, decode_close),
    (0x1A, decode_reset),
    (0x1C, decode_fetch),
    (0x18, decode_send_long_data),
    (0x17, partial(decode_execute, num_params=3)),
    (
        0x17,
        partial(
            decode_execute, num_params=3, previous_types=[(T.LONG, 0), (T.BLOB, 0), (T.TIME, 0)]
        ),
    ),
    (0x17, partial(decode_execute, num_params=2, query_attributes=True, long_data={1})),
    (0x17, partial(decode_execute, num_params=0, query_attributes=True)),
    (0xFA, partial(decode_bulk_execute, num_params=2)),
    (0xFA, partial(decode_bulk_execute, num_params=2, previous_types=[(T.DATE, 0), (T.STRING, 0)])),
]


@given(st.sampled_from(DECODERS), st.integers(0, 9), st.integers(0, 255), st.binary(max_size=60))
def test_random_bytes_raise_only_malformed(
    case: tuple[int, Decoder], dice: int, foreign: int, body: bytes
) -> None:
    """Random payloads decode and render, or raise MalformedPacket; decoded ones round-trip."""
    command, decoder = case
    try:
        message = decoder(bytes((foreign if dice == 0 else command,)) + body)
    except MalformedPacket:
        return
    assert decoder(encode(message, query_attributes=_attributes(decoder))) == message
    if isinstance(message, StmtExecute):
        with contextlib.suppress(MalformedPacket):
            message.param_texts({1: b"gathered"})


PARAM_TYPES = [
    T.TINY,
    T.SHORT,
    T.LONG,
    T.LONGLONG,
    T.FLOAT,
    T.DOUBLE,
    T.VAR_STRING,
    T.BLOB,
    T.NEWDECIMAL,
    T.DATETIME,
    T.TIME,
]


@st.composite
def _executes(draw: st.DrawFn) -> StmtExecute:
    params = []
    for type_code in draw(st.lists(st.sampled_from(PARAM_TYPES), max_size=12)):
        size = {T.TINY: 1, T.SHORT: 2, T.LONG: 4, T.LONGLONG: 8, T.FLOAT: 4, T.DOUBLE: 8}.get(
            type_code
        )
        if type_code == T.DATETIME:
            value = st.sampled_from([b"", b"\xe8\x07\x01\x02", b"\xe8\x07\x01\x02\x03\x04\x05"])
        elif type_code == T.TIME:
            value = st.sampled_from([b"", b"\x01" + bytes(7), b"\x00" * 11 + b"\x01"])
        elif size is not None:
            value = st.binary(min_size=size, max_size=size)
        else:
            value = st.binary(max_size=40)
        flag = draw(st.sampled_from([0, PARAM_UNSIGNED]))
        params.append(BoundParam(type_code, flag, draw(st.none() | value)))
    flags = draw(st.sampled_from([0, 1, 2, 4]))
    return StmtExecute(draw(st.integers(0, 2**32 - 1)), flags, tuple(params))


@given(_executes())
def test_random_executes_round_trip(execute: StmtExecute) -> None:
    """Any COM_STMT_EXECUTE survives encode and decode, and renders to text without error."""
    payload = encode(execute)
    assert decode_execute(payload, num_params=len(execute.params)) == execute
    assert len(execute.param_texts()) == len(execute.params)
