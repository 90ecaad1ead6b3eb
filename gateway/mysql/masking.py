"""Masking a reply on its way to the client, by the connection's policy (the dialect's
``MySQLMasking``): each result set's column definitions give one plan (``org_table`` /
``org_name`` name the real column through aliases), which rewrites its text rows with fresh
lengths (MySQL "Text Resultset Row"; NULL stays 0xFB); an ERR packet's message is masked too
(a failing cast quotes the value it could not read)."""

from __future__ import annotations

from typing import Any

from gateway.masking import MaskTally
from gateway.mysql import wire as my
from gateway.mysql.dialect import ColumnOrigin, RowMask

__all__ = ["ReplyMasker", "origin"]

_DEFINITIONS = frozenset({my.Input.COLUMN, my.Input.LAST_COLUMN, my.Input.LAST_COLUMN_NO_EOF})


def origin(column: my.ColumnDefinition) -> ColumnOrigin:
    """The fields of a column definition masking binds rules to."""

    def text(value: bytes) -> str:
        return value.decode("utf-8", "surrogateescape")

    return ColumnOrigin(
        text(column.schema), text(column.table), text(column.org_table), text(column.name),
        text(column.org_name), column.column_type, column.charset,
    )  # fmt: skip


class ReplyMasker:
    """One command's reply: ``packet`` returns each payload as the client may see it."""

    def __init__(self, policy: Any, database: str | None, sent: str) -> None:
        self.policy, self.database, self.sent = policy, database, sent
        self.tally = MaskTally()
        self._columns: list[ColumnOrigin] = []
        self._plan: RowMask | None = None

    def packet(self, event: my.Input, payload: bytes, columns: int) -> bytes:
        if event is my.Input.ROW:
            plan = self._plan
            if plan is None:
                return payload
            values = my.decode_text_row(payload, columns)
            masked = plan.row(values, self.tally)
            return payload if masked is values else my.encode_text_row(masked)
        if event is my.Input.COLUMN_COUNT:
            self._columns, self._plan = [], None
        elif event in _DEFINITIONS:
            self._columns.append(origin(my.ColumnDefinition.decode(payload)))
            if event is not my.Input.COLUMN:
                self._plan = self.policy.plan(self._columns, self.database)
        elif event is my.Input.ERR:
            error = my.Err.decode(payload)
            message = self.policy.error_message(error.message, self.sent)
            if message != error.message:
                return my.Err(error.code, error.sqlstate, message).encode()
        return payload

    def counts(self) -> dict[str, int] | None:
        """What was masked, by rule and detector (None: nothing)."""
        found = self.tally.counts()
        if not found:
            return None
        return {**found.columns, **found.detectors}
