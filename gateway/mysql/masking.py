"""Masking a reply on its way to the client, by the connection's policy (the dialect's
``MySQLMasking``): each result set's column definitions give one plan (``org_table`` /
``org_name`` name the real column through aliases), which rewrites its rows with fresh lengths
(MySQL "Text Resultset Row", "Binary Protocol Resultset Row"; NULL stays NULL); an ERR packet's
message is masked too (a failing cast or a duplicate key quotes the value).

A result set's column definitions are held until the last one, so that the plan is known
before any is sent: in a binary result set a masked column whose type cannot carry the masked
text (an integer, a date) is re-typed to a string column (``MASKED_COLUMN_TYPE``) in its
definition, and its values are sent as that text. What a result set's definitions plan is a
function of their bytes, the database in use, the derived outputs and the protocol, and is
kept by those (``Planned``, in the session's ``Lineage.planned``): a session that runs the
same query again decodes no definition."""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.masking import MaskTally
from gateway.mysql import wire as my
from gateway.mysql.dialect import ColumnOrigin, Leak, RowMask, general_shape
from gateway.mysql.wire.binary import decode_row, encode_row
from gateway.mysql.wire.textform import to_text
from gateway.mysql.wire.types import MASKED_COLUMN_TYPE, ColumnFlag, ColumnType

__all__ = ["Lineage", "ReplyMasker", "origin"]

T = ColumnType
_DEFINITIONS = frozenset({my.Input.COLUMN, my.Input.LAST_COLUMN, my.Input.LAST_COLUMN_NO_EOF})
# Types whose binary value is not its text: a masked one is re-typed to a string.
RETYPED = frozenset({
    T.TINY, T.SHORT, T.LONG, T.LONGLONG, T.INT24, T.YEAR, T.FLOAT, T.DOUBLE, T.DATE,
    T.DATETIME, T.TIMESTAMP, T.TIME,
})  # fmt: skip
_NUMERIC_FLAGS = ColumnFlag.UNSIGNED | ColumnFlag.ZEROFILL | ColumnFlag.BINARY | ColumnFlag.NUM


class Lineage:
    """A masking session's reading of its texts (the dialect's, ~0.02-0.5 ms each), kept per
    text and state: ``leak`` (a route around the masked result set: the text is refused) and
    ``derived`` (outputs computed from a masked column). A text whose literals cannot change
    that reading (the dialect's ``general_shape``) is kept by its shape: point selects with a
    new key each time cost one reading, not one each (sysbench: 176 µs of 428 per select)."""

    SIZE = 256

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.planned: dict[PlanKey, Planned] = {}  # ReplyMasker's, by definitions' bytes
        self._leaks: dict[tuple[bool, str, Any], Leak | None] = {}
        self._derived: dict[tuple[bool, str, Any], frozenset[int] | None] = {}
        self._last: tuple[str, Any, tuple[bool, str, Any]] | None = None

    def _key(self, text: str, state: Any) -> tuple[bool, str, Any]:
        """By shape where the dialect says literals cannot matter, else by the text itself
        (the flag keeps a text that spells some shape from meeting that shape's entry); the
        last text's key is kept, as ``leak`` and ``derived`` ask for the same text in turn."""
        last = self._last
        if last is not None and last[0] is text and last[1] is state:
            return last[2]
        shape = general_shape(text, state)
        key = (True, shape, state) if shape is not None else (False, text, state)
        self._last = (text, state, key)
        return key

    def leak(self, text: str, state: Any) -> Leak | None:
        key = self._key(text, state)
        if key not in self._leaks:
            if len(self._leaks) >= self.SIZE:
                self._leaks.clear()
            self._leaks[key] = self.policy.check(text, state)
        return self._leaks[key]

    def derived(self, text: str, state: Any) -> frozenset[int] | None:
        key = self._key(text, state)
        if key not in self._derived:
            if len(self._derived) >= self.SIZE:
                self._derived.clear()
            self._derived[key] = self.policy.derived(text, state)
        return self._derived[key]


def origin(column: my.ColumnDefinition) -> ColumnOrigin:
    """The fields of a column definition masking binds rules to."""

    def text(value: bytes) -> str:
        return value.decode("utf-8", "surrogateescape")

    return ColumnOrigin(
        text(column.schema), text(column.table), text(column.org_table), text(column.name),
        text(column.org_name), column.column_type, column.charset,
    )  # fmt: skip


# A result set's definitions (their payloads), the database in use, the derived outputs and
# whether the rows are binary: all that a plan is made of.
PlanKey = tuple[tuple[bytes, ...], str | None, frozenset[int] | None, bool]


@dataclasses.dataclass(frozen=True, slots=True)
class Planned:
    """What one result set's definitions plan: the row mask (None: no column can change), the
    server's (type, flags) per column and as the client is told, the columns' decimals, and the
    definitions' payloads to send."""

    plan: RowMask | None
    specs: tuple[tuple[int, int], ...]
    sent_specs: tuple[tuple[int, int], ...]
    decimals: tuple[int, ...]
    sent: tuple[bytes, ...]


class ReplyMasker:
    """One command's reply (``binary``: a COM_STMT_EXECUTE's); ``packet`` returns the payloads
    the client may see in place of each one (none while definitions are held)."""

    def __init__(
        self,
        policy: Any,
        database: str | None,
        sent: str,
        *,
        binary: bool = False,
        derived: frozenset[int] | None = None,
        planned: dict[PlanKey, Planned] | None = None,
    ) -> None:
        self.policy, self.database, self.sent, self.binary = policy, database, sent, binary
        self.derived = derived  # outputs computed from a masked column (masked whole)
        self.tally = MaskTally()
        self._planned_by = planned if planned is not None else {}
        self._definitions: list[bytes] = []  # the payloads held until the last
        self._plan: RowMask | None = None
        self._specs: tuple[tuple[int, int], ...] = ()  # the server's (type, flags) per column
        self._sent_specs: tuple[tuple[int, int], ...] = ()  # as the client was told
        self._decimals: tuple[int, ...] = ()
        self._retyped = False  # a column the client is told is a string, not the server's type

    def packet(self, event: my.Input, payload: bytes, columns: int) -> list[bytes] | None:
        """What the client sees in place of one packet: None for the packet as it came, else
        the payloads to send (none while binary definitions are held)."""
        if event is my.Input.ROW:
            plan = self._plan
            if plan is None:
                return None
            masked = self._binary_row(payload, plan) if self.binary else self._row(payload, plan)
            return None if masked is payload else [masked]
        if event is my.Input.COLUMN_COUNT:
            self._definitions, self._plan = [], None
        elif event in _DEFINITIONS:
            # A text result set's definitions go as they came (a text value can carry the
            # masked text whatever its type); binary ones wait for the plan (re-typing).
            self._definitions.append(payload)
            if event is not my.Input.COLUMN:
                sent = self._planned()
                return sent if self.binary else None
            return [] if self.binary else None
        elif event is my.Input.ERR:
            error = my.Err.decode(payload)
            message = self.policy.error_message(error.message, self.sent)
            if message != error.message:
                return [my.Err(error.code, error.sqlstate, message).encode()]
        return None

    def _planned(self) -> list[bytes]:
        """The plan for the held definitions, and the definitions to send."""
        key = (tuple(self._definitions), self.database, self.derived, self.binary)
        by = self._planned_by
        planned = by.get(key)
        if planned is None:
            planned = self._plan_anew()
            if len(by) >= Lineage.SIZE:
                by.clear()
            by[key] = planned
        self._plan, self._specs, self._sent_specs = planned.plan, planned.specs, planned.sent_specs
        self._decimals = planned.decimals
        self._retyped = planned.sent_specs != planned.specs
        return list(planned.sent)

    def _plan_anew(self) -> Planned:
        """The plan for the held definitions, and the definitions to send (re-typed where a
        binary value cannot carry the masked text)."""
        decoded = [my.ColumnDefinition.decode(d) for d in self._definitions]
        definitions = list(decoded)
        columns = [origin(d) for d in definitions]
        plan = self.policy.plan(columns, self.database, derived=self.derived)
        specs = tuple((d.column_type, d.flags) for d in definitions)
        decimals = tuple(d.decimals for d in definitions)
        if plan is not None and self.binary:
            for index in plan.masked:
                column = definitions[index]
                if column.column_type in RETYPED:
                    definitions[index] = dataclasses.replace(
                        column,
                        column_type=MASKED_COLUMN_TYPE,
                        flags=column.flags & ~_NUMERIC_FLAGS,
                        charset=my.CHARSET_UTF8MB4,
                        length=max(column.length, 64) * 4,
                        decimals=0,
                    )
        sent_specs = tuple((d.column_type, d.flags) for d in definitions)
        sent = tuple(  # as the server sent them, but for those re-typed
            payload if d is original else d.encode()
            for d, original, payload in zip(definitions, decoded, self._definitions, strict=True)
        )
        return Planned(plan, specs, sent_specs, decimals, sent)

    def _row(self, payload: bytes, plan: RowMask) -> bytes:
        values = my.decode_text_row(payload, len(self._specs))
        masked = plan.row(values, self.tally)
        return payload if masked is values else my.encode_text_row(masked)

    def _binary_row(self, payload: bytes, plan: RowMask) -> bytes:
        """A binary row: the masked columns' values in their text form, masked, sent as text
        (their columns are strings to the client); the rest as they came. The very payload
        when nothing was masked and no column was re-typed: the row as the server sent it."""
        raw = list(decode_row(payload, self._specs))
        texts = list(raw)
        for index in plan.masked:
            value = raw[index]
            if value is not None:
                type_code, flags = self._specs[index]
                decimals = self._decimals[index]
                texts[index] = to_text(type_code, flags, value, decimals=decimals)
        masked = plan.row(texts, self.tally)
        if masked is texts and not self._retyped:
            return payload
        for index in plan.masked:
            raw[index] = masked[index]
        return encode_row(raw, self._sent_specs)

    def counts(self) -> dict[str, int] | None:
        """What was masked, by rule and detector (None: nothing)."""
        found = self.tally.counts()
        if not found:
            return None
        return {**found.columns, **found.detectors}
