"""Hypothesis strategies for every message type of the codec."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

import gateway.postgres.wire as pg

u16 = st.integers(0, 2**16 - 1)
i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)
# Strings: any bytes but NUL, decoded as the codec does (invalid UTF-8 becomes surrogates).
text = st.binary(max_size=24).map(
    lambda raw: raw.replace(b"\0", b"").decode("utf-8", "surrogateescape")
) | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=12)
name = text.filter(bool)
data = st.binary(max_size=64)
value = st.none() | data
values = st.lists(value, max_size=6).map(tuple)
formats = st.lists(i16, max_size=4).map(tuple)
oids = st.lists(u32, max_size=4).map(tuple)
kind = st.sampled_from(["S", "P"])

startup_packets = st.one_of(
    st.builds(
        pg.StartupMessage,
        st.dictionaries(name, text, max_size=4),
        st.integers(3 << 16, (3 << 16) | 0xFFFF),
    ),
    st.builds(pg.SSLRequest),
    st.builds(pg.GSSENCRequest),
    st.builds(pg.CancelRequest, u32, u32),
)

frontend_messages = st.one_of(
    st.builds(pg.Query, text),
    st.builds(pg.Parse, text, text, oids),
    st.builds(pg.Bind, text, text, formats, values, formats),
    st.builds(pg.Describe, kind, text),
    st.builds(pg.Execute, text, i32),
    st.builds(pg.Close, kind, text),
    st.builds(pg.Sync),
    st.builds(pg.Flush),
    st.builds(pg.Terminate),
    st.builds(pg.CopyData, data),
    st.builds(pg.CopyDone),
    st.builds(pg.CopyFail, text),
    st.builds(pg.FunctionCall, u32, formats, values, i16),
)

field = st.builds(pg.FieldDescription, text, u32, i16, u32, i16, i32, i16)
response_fields = st.dictionaries(st.characters(min_codepoint=1, max_codepoint=127), text)

backend_messages = st.one_of(
    st.builds(pg.AuthenticationOk),
    st.builds(pg.AuthenticationCleartextPassword),
    st.builds(pg.AuthenticationMD5Password, st.binary(min_size=4, max_size=4)),
    st.builds(pg.AuthenticationSASL, st.lists(name, max_size=3).map(tuple)),
    st.builds(pg.AuthenticationSASLContinue, data),
    st.builds(pg.AuthenticationSASLFinal, data),
    st.builds(pg.AuthenticationUnsupported, st.sampled_from([2, 7, 8, 9]), data),
    st.builds(pg.BackendKeyData, u32, u32),
    st.builds(pg.ParameterStatus, text, text),
    st.builds(pg.ReadyForQuery, st.sampled_from(["I", "T", "E"])),
    st.builds(pg.RowDescription, st.lists(field, max_size=4).map(tuple)),
    st.builds(pg.DataRow, values),
    st.builds(pg.CommandComplete, text),
    st.builds(pg.EmptyQueryResponse),
    st.builds(pg.ErrorResponse, response_fields),
    st.builds(pg.NoticeResponse, response_fields),
    st.builds(pg.ParseComplete),
    st.builds(pg.BindComplete),
    st.builds(pg.CloseComplete),
    st.builds(pg.NoData),
    st.builds(pg.PortalSuspended),
    st.builds(pg.ParameterDescription, oids),
    st.builds(pg.CopyInResponse, st.integers(0, 255), formats),
    st.builds(pg.CopyOutResponse, st.integers(0, 255), formats),
    st.builds(pg.CopyBothResponse, st.integers(0, 255), formats),
    st.builds(pg.CopyData, data),
    st.builds(pg.CopyDone),
    st.builds(pg.NotificationResponse, u32, text, text),
    st.builds(pg.FunctionCallResponse, value),
    st.builds(pg.NegotiateProtocolVersion, u32, st.lists(text, max_size=3).map(tuple)),
)

CLIENT_TAGS = b"BCdcfDEHFPpQSX"
SERVER_TAGS = b"RK23CWdcGHDIEVvnNAt1sSZT"


def framed(tags: bytes) -> st.SearchStrategy[bytes]:
    """Well-framed messages with a valid type byte and a random body."""
    one = st.tuples(st.sampled_from(list(tags)), st.binary(max_size=40)).map(
        lambda t: bytes([t[0]]) + (len(t[1]) + 4).to_bytes(4, "big") + t[1]
    )
    return st.lists(one, max_size=8).map(b"".join)


def chunked(raw: bytes, cuts: list[int]) -> list[bytes]:
    """Split raw at the given offsets (taken modulo its length)."""
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    return [raw[a:b] for a, b in itertools.pairwise(points)]
