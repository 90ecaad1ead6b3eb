"""One table of (message, wire bytes) cases, used for both encoding and decoding (STYLE 8).

The wire bytes are written out by hand from PostgreSQL docs 55.7 "Message Formats"; only the
length word is computed, by `typed()` / `untyped()`, from the body written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.postgres.wire import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    AuthenticationUnsupported,
    BackendKeyData,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    CopyBothResponse,
    CopyData,
    CopyDone,
    CopyFail,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    FieldDescription,
    Flush,
    FunctionCall,
    FunctionCallResponse,
    GSSENCRequest,
    Message,
    NegotiateProtocolVersion,
    NoData,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PasswordMessage,
    PortalSuspended,
    Query,
    ReadyForQuery,
    RowDescription,
    SASLInitialResponse,
    SASLResponse,
    SSLRequest,
    SSLResponse,
    StartupMessage,
    Sync,
    Terminate,
)

NULL = b"\xff\xff\xff\xff"


def typed(tag: bytes, body: bytes = b"") -> bytes:
    """Byte1 type, Int32 length including itself, body."""
    return tag + (len(body) + 4).to_bytes(4, "big") + body


def untyped(body: bytes) -> bytes:
    """Int32 length including itself, body (startup-phase packets)."""
    return (len(body) + 4).to_bytes(4, "big") + body


def i16(n: int) -> bytes:
    """Int16, big-endian, signed."""
    return n.to_bytes(2, "big", signed=True)


def i32(n: int) -> bytes:
    """Int32, big-endian, signed."""
    return n.to_bytes(4, "big", signed=True)


@dataclass(frozen=True)
class Case:
    """A message, its exact wire bytes and which side sends it."""

    id: str
    message: Message
    wire: bytes
    sender: Literal["client", "server"]


def _c(id: str, message: Message, wire: bytes) -> Case:
    return Case(id, message, wire, "client")


def _s(id: str, message: Message, wire: bytes) -> Case:
    return Case(id, message, wire, "server")


FIELD_ID = FieldDescription("id", 16384, 1, 23, 4, -1, 0)
FIELD_EXPR = FieldDescription("?column?", 0, 0, 25, -1, -1, 1)

CLIENT_CASES = [
    _c(
        "startup",
        StartupMessage({"user": "alice", "database": "pg-prod"}),
        untyped(i32(196608) + b"user\0alice\0database\0pg-prod\0\0"),
    ),
    _c("startup-no-params", StartupMessage({}), untyped(i32(196608) + b"\0")),
    _c("startup-3.2", StartupMessage({"user": "u"}, 196610), untyped(i32(196610) + b"user\0u\0\0")),
    _c("ssl-request", SSLRequest(), untyped(bytes.fromhex("04d2162f"))),
    _c("gssenc-request", GSSENCRequest(), untyped(bytes.fromhex("04d21630"))),
    _c(
        "cancel",
        CancelRequest(4242, 0xDEADBEEF),
        untyped(bytes.fromhex("04d2162e") + i32(4242) + bytes.fromhex("deadbeef")),
    ),
    _c("query", Query("SELECT 1"), typed(b"Q", b"SELECT 1\0")),
    _c("query-empty", Query(""), typed(b"Q", b"\0")),
    _c("query-latin1", Query("SELECT 'caf\udce9'"), typed(b"Q", b"SELECT 'caf\xe9'\0")),
    _c("query-utf8", Query("SELECT 'café'"), typed(b"Q", "SELECT 'café'\0".encode())),
    _c(
        "parse",
        Parse("s1", "SELECT $1", (23,)),
        typed(b"P", b"s1\0SELECT $1\0" + i16(1) + i32(23)),
    ),
    _c("parse-unnamed", Parse("", "SELECT 1"), typed(b"P", b"\0SELECT 1\0" + i16(0))),
    _c(
        "bind",
        Bind("p", "s1", (1,), (i32(42), None, b""), (0, 1)),
        typed(
            b"B",
            b"p\0s1\0"
            + i16(1)
            + i16(1)
            + i16(3)
            + i32(4)
            + i32(42)
            + NULL
            + i32(0)
            + i16(2)
            + i16(0)
            + i16(1),
        ),
    ),
    _c("bind-empty", Bind("", ""), typed(b"B", b"\0\0" + i16(0) + i16(0) + i16(0))),
    _c("describe-statement", Describe("S", "s1"), typed(b"D", b"Ss1\0")),
    _c("describe-portal", Describe("P", ""), typed(b"D", b"P\0")),
    _c("execute", Execute("", 0), typed(b"E", b"\0" + i32(0))),
    _c("execute-limit", Execute("p", 100), typed(b"E", b"p\0" + i32(100))),
    _c("close-portal", Close("P", "p"), typed(b"C", b"Pp\0")),
    _c("close-statement", Close("S", "s1"), typed(b"C", b"Ss1\0")),
    _c("sync", Sync(), typed(b"S")),
    _c("flush", Flush(), typed(b"H")),
    _c("terminate", Terminate(), typed(b"X")),
    _c("copy-data-in", CopyData(b"1\tfoo\n"), typed(b"d", b"1\tfoo\n")),
    _c("copy-done-in", CopyDone(), typed(b"c")),
    _c("copy-fail", CopyFail("aborted"), typed(b"f", b"aborted\0")),
    _c(
        "password",
        PasswordMessage("md5b79948bbeb35dee03ab8fe15a839030b"),
        typed(b"p", b"md5b79948bbeb35dee03ab8fe15a839030b\0"),
    ),
    _c(
        "sasl-initial",
        SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=abc"),
        typed(b"p", b"SCRAM-SHA-256\0" + i32(11) + b"n,,n=,r=abc"),
    ),
    _c(
        "sasl-initial-no-data",
        SASLInitialResponse("SCRAM-SHA-256", None),
        typed(b"p", b"SCRAM-SHA-256\0" + NULL),
    ),
    _c("sasl-response", SASLResponse(b"c=biws,r=abc,p=xyz"), typed(b"p", b"c=biws,r=abc,p=xyz")),
    _c(
        "function-call",
        FunctionCall(1598, (1,), (i32(1), None), 1),
        typed(b"F", i32(1598) + i16(1) + i16(1) + i16(2) + i32(4) + i32(1) + NULL + i16(1)),
    ),
]

SERVER_CASES = [
    _s("ssl-accepted", SSLResponse(True), b"S"),
    _s("ssl-refused", SSLResponse(False), b"N"),
    _s("auth-ok", AuthenticationOk(), typed(b"R", i32(0))),
    _s("auth-cleartext", AuthenticationCleartextPassword(), typed(b"R", i32(3))),
    _s("auth-md5", AuthenticationMD5Password(b"\1\2\3\4"), typed(b"R", i32(5) + b"\1\2\3\4")),
    _s(
        "auth-sasl",
        AuthenticationSASL(("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),
        typed(b"R", i32(10) + b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
    ),
    _s(
        "auth-sasl-continue",
        AuthenticationSASLContinue(b"r=abc,s=c2FsdA==,i=4096"),
        typed(b"R", i32(11) + b"r=abc,s=c2FsdA==,i=4096"),
    ),
    _s("auth-sasl-final", AuthenticationSASLFinal(b"v=c2ln"), typed(b"R", i32(12) + b"v=c2ln")),
    _s("auth-gss", AuthenticationUnsupported(7), typed(b"R", i32(7))),
    _s("auth-gss-continue", AuthenticationUnsupported(8, b"tok"), typed(b"R", i32(8) + b"tok")),
    _s(
        "backend-key",
        BackendKeyData(4242, 0xDEADBEEF),
        typed(b"K", i32(4242) + bytes.fromhex("deadbeef")),
    ),
    _s(
        "parameter-status",
        ParameterStatus("client_encoding", "UTF8"),
        typed(b"S", b"client_encoding\0UTF8\0"),
    ),
    _s("ready-idle", ReadyForQuery("I"), typed(b"Z", b"I")),
    _s("ready-transaction", ReadyForQuery("T"), typed(b"Z", b"T")),
    _s("ready-failed", ReadyForQuery("E"), typed(b"Z", b"E")),
    _s(
        "row-description",
        RowDescription((FIELD_ID, FIELD_EXPR)),
        typed(
            b"T",
            i16(2)
            + b"id\0"
            + i32(16384)
            + i16(1)
            + i32(23)
            + i16(4)
            + i32(-1)
            + i16(0)
            + b"?column?\0"
            + i32(0)
            + i16(0)
            + i32(25)
            + i16(-1)
            + i32(-1)
            + i16(1),
        ),
    ),
    _s("row-description-empty", RowDescription(()), typed(b"T", i16(0))),
    _s(
        "data-row",
        DataRow((b"1", None, b"")),
        typed(b"D", i16(3) + i32(1) + b"1" + NULL + i32(0)),
    ),
    _s("data-row-empty", DataRow(()), typed(b"D", i16(0))),
    _s("command-complete", CommandComplete("SELECT 1"), typed(b"C", b"SELECT 1\0")),
    _s("empty-query", EmptyQueryResponse(), typed(b"I")),
    _s(
        "error",
        ErrorResponse(
            {"S": "ERROR", "V": "ERROR", "C": "42P01", "M": 'relation "x" does not exist'}
        ),
        typed(b"E", b'SERROR\0VERROR\0C42P01\0Mrelation "x" does not exist\0\0'),
    ),
    _s("error-no-fields", ErrorResponse({}), typed(b"E", b"\0")),
    _s("notice", NoticeResponse({"S": "NOTICE", "M": "hi"}), typed(b"N", b"SNOTICE\0Mhi\0\0")),
    _s("parse-complete", ParseComplete(), typed(b"1")),
    _s("bind-complete", BindComplete(), typed(b"2")),
    _s("close-complete", CloseComplete(), typed(b"3")),
    _s("no-data", NoData(), typed(b"n")),
    _s("portal-suspended", PortalSuspended(), typed(b"s")),
    _s(
        "parameter-description",
        ParameterDescription((23, 4294967295)),
        typed(b"t", i16(2) + i32(23) + b"\xff\xff\xff\xff"),
    ),
    _s("copy-in", CopyInResponse(0, (0, 0)), typed(b"G", b"\0" + i16(2) + i16(0) + i16(0))),
    _s("copy-out", CopyOutResponse(1, (1,)), typed(b"H", b"\1" + i16(1) + i16(1))),
    _s("copy-both", CopyBothResponse(0, ()), typed(b"W", b"\0" + i16(0))),
    _s("copy-data-out", CopyData(b"1\n"), typed(b"d", b"1\n")),
    _s("copy-done-out", CopyDone(), typed(b"c")),
    _s(
        "notification",
        NotificationResponse(77, "jobs", "done"),
        typed(b"A", i32(77) + b"jobs\0done\0"),
    ),
    _s("function-result", FunctionCallResponse(i32(1)), typed(b"V", i32(4) + i32(1))),
    _s("function-null", FunctionCallResponse(None), typed(b"V", NULL)),
    _s(
        "negotiate",
        NegotiateProtocolVersion(0, ("_pq_.compression",)),
        typed(b"v", i32(0) + i32(1) + b"_pq_.compression\0"),
    ),
]

CASES = CLIENT_CASES + SERVER_CASES
