"""Backend messages (PostgreSQL docs 55.7 "Message Formats"). Conventions are described in
gateway.postgres.wire.messages; import from there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self


@dataclass(frozen=True, slots=True)
class AuthenticationOk:
    """AuthenticationOk ('R', 0)."""


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword:
    """AuthenticationCleartextPassword ('R', 3)."""


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password:
    """AuthenticationMD5Password ('R', 5) with its 4-byte salt."""

    salt: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    """AuthenticationSASL ('R', 10): the SASL mechanisms the server offers."""

    mechanisms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue:
    """AuthenticationSASLContinue ('R', 11): e.g. SCRAM server-first-message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal:
    """AuthenticationSASLFinal ('R', 12): e.g. SCRAM server-final-message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationUnsupported:
    """An authentication request the gateway cannot serve: KerberosV5 (2), GSS (7),
    GSSContinue (8), SSPI (9); `data` is whatever follows the code."""

    code: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    """BackendKeyData ('K'): the key a CancelRequest must quote."""

    process_id: int
    secret_key: int


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    """ParameterStatus ('S'): a run-time parameter's current value."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    """ReadyForQuery ('Z'): idle ('I'), in a transaction ('T') or in a failed one ('E')."""

    status: Literal["I", "T", "E"]


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """One column of a RowDescription; table_oid/column_attr are 0 for expressions."""

    name: str
    table_oid: int = 0
    column_attr: int = 0
    type_oid: int = 25
    type_size: int = -1
    type_mod: int = -1
    format: int = 0


@dataclass(frozen=True, slots=True)
class RowDescription:
    """RowDescription ('T'): the columns of the rows that follow."""

    fields: tuple[FieldDescription, ...]


@dataclass(frozen=True, slots=True)
class DataRow:
    """DataRow ('D'): one row; None is SQL NULL."""

    values: tuple[bytes | None, ...]


@dataclass(frozen=True, slots=True)
class CommandComplete:
    """CommandComplete ('C'): the command tag, e.g. 'SELECT 3'."""

    tag: str


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse:
    """EmptyQueryResponse ('I'): the query string was empty."""


@dataclass(frozen=True, slots=True)
class _ResponseFields:
    """Fields of ErrorResponse/NoticeResponse keyed by field-type char (55.8 "Error and Notice
    Message Fields"). No field is guaranteed to exist: every helper returns None when absent."""

    fields: dict[str, str]

    @classmethod
    def build(
        cls,
        severity: str,
        sqlstate: str,
        message: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
    ) -> Self:
        """Build the message with S, V (non-localized severity), C, M and optional D, H."""
        fields = {"S": severity, "V": severity, "C": sqlstate, "M": message}
        if detail is not None:
            fields["D"] = detail
        if hint is not None:
            fields["H"] = hint
        return cls(fields)

    @property
    def severity(self) -> str | None:
        """The non-localized severity ('V') if present, else the localized one ('S')."""
        return self.fields.get("V", self.fields.get("S"))

    @property
    def sqlstate(self) -> str | None:
        """The SQLSTATE code ('C')."""
        return self.fields.get("C")

    @property
    def message(self) -> str | None:
        """The primary message ('M')."""
        return self.fields.get("M")

    @property
    def detail(self) -> str | None:
        """The detail ('D')."""
        return self.fields.get("D")

    @property
    def hint(self) -> str | None:
        """The hint ('H')."""
        return self.fields.get("H")


@dataclass(frozen=True, slots=True)
class ErrorResponse(_ResponseFields):
    """ErrorResponse ('E')."""


@dataclass(frozen=True, slots=True)
class NoticeResponse(_ResponseFields):
    """NoticeResponse ('N')."""


@dataclass(frozen=True, slots=True)
class ParseComplete:
    """ParseComplete ('1')."""


@dataclass(frozen=True, slots=True)
class BindComplete:
    """BindComplete ('2')."""


@dataclass(frozen=True, slots=True)
class CloseComplete:
    """CloseComplete ('3')."""


@dataclass(frozen=True, slots=True)
class NoData:
    """NoData ('n'): the statement or portal returns no rows."""


@dataclass(frozen=True, slots=True)
class PortalSuspended:
    """PortalSuspended ('s'): Execute's row limit was reached."""


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    """ParameterDescription ('t'): the parameter type OIDs of a statement."""

    type_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyInResponse:
    """CopyInResponse ('G'): overall format (0 text, 1 binary) and per-column formats."""

    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyOutResponse:
    """CopyOutResponse ('H'): overall format (0 text, 1 binary) and per-column formats."""

    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyBothResponse:
    """CopyBothResponse ('W'): used by streaming replication."""

    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    """NotificationResponse ('A'): a NOTIFY delivered to this session."""

    process_id: int
    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class FunctionCallResponse:
    """FunctionCallResponse ('V'): the result of a FunctionCall; None is SQL NULL."""

    result: bytes | None


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    """NegotiateProtocolVersion ('v'): newest minor version supported, unknown _pq_ options."""

    newest_minor: int
    unrecognized_options: tuple[str, ...] = ()
