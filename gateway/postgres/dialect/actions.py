"""Column actions by PostgreSQL type and format: integers, text[] literals, binary jsonb and
arrays, and the dispatch for detectors and column rules.

See ``gateway.masking.scan`` for the action contract (same object back when unchanged, new
bytes, or None).
"""

from __future__ import annotations

import json
import struct

from gateway.masking import Detector, MaskTally, mask_value
from gateway.masking.scan import (
    Action,
    Scanner,
    integer_text_action,
    json_action,
    null_on_find_action,
    number_checks,
    splice,
    text_action,
)
from gateway.postgres.dialect.errors import MalformedDataRowError
from gateway.postgres.dialect.pgtypes import BYTEA, CANNOT_HOLD_TEXT, MAX_DIGITS, Kind, kind_of

__all__ = [
    "detector_action",
    "jsonb_binary_action",
    "number_checks",
    "rule_action",
    "text_array_action",
]

_ENC, _ERR = "utf-8", "surrogateescape"
_I32 = struct.Struct("!i")
_NULL_LEN = b"\xff\xff\xff\xff"


def _integer_binary(checks: tuple[tuple[Detector, bool], ...]) -> Action:
    def act(value: bytes, tally: MaskTally) -> bytes | None:
        if len(value) not in (4, 8):
            raise MalformedDataRowError(f"binary integer value of {len(value)} bytes")
        digits = str(abs(int.from_bytes(value, "big", signed=True)))
        for d, ctx in checks:
            if d.number_check is not None and d.number_check(digits, ctx):
                tally.detector(d.name)
                return bytes(len(value))  # 0 of the same width
        return value

    return act


def text_array_action(scanner: Scanner) -> Action:
    """Detectors on a text-format text[] literal: masks elements in place."""
    scan, gate = scanner.scan, scanner.gate

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        found = scan(value) if gate(value) else None
        if not found:
            return value
        tally.findings(found)
        # an unquoted array element must not gain whitespace ("[masked jwt]" -> "[masked_jwt]")
        safe = [
            f._replace(replacement=f.replacement.replace(" ", "_"))
            if " " in f.replacement and b" " not in value[f.start : f.end]
            else f
            for f in found
        ]
        return splice(value, safe)

    return act


def jsonb_binary_action(inner: Action) -> Action:
    """Binary jsonb: the version byte, then ``inner`` on the JSON text."""

    # jsonb_send: a version byte (1) then the JSON text
    def act(value: bytes, tally: MaskTally) -> bytes | None:
        if value[:1] != b"\x01":
            tally.detector("unscannable")
            return None
        body = value[1:]
        new = inner(body, tally)
        return value if new is body else b"\x01" + (new or b"null")

    return act


def _binary_array(scanner: Scanner) -> Action:
    plain, as_json = text_action(scanner), json_action(scanner)
    elements: dict[Kind, Action] = {
        Kind.TEXT: plain,
        Kind.JSON: as_json,
        Kind.JSONB: jsonb_binary_action(as_json),
    }
    return lambda value, tally: _mask_binary_array(value, elements, tally)


def _mask_binary_array(
    value: bytes, elements: dict[Kind, Action], tally: MaskTally
) -> bytes | None:
    # array_send (src/backend/utils/adt/arrayfuncs.c): int32 ndim, int32 has-nulls flag,
    # uint32 element OID, ndim x (int32 size, int32 lower bound), then per element
    # int32 length (-1 = NULL) and the element's binary value.
    try:
        ndim, _flags, elem_oid = struct.unpack_from("!iiI", value, 0)
        if not 0 <= ndim <= 6:
            raise MalformedDataRowError(f"binary array with {ndim} dimensions")
        pos = 12 + 8 * ndim
        sizes = struct.unpack_from(f"!{2 * ndim}i", value, 12)[0::2]
    except struct.error as exc:
        raise MalformedDataRowError("truncated binary array header") from exc
    count = 1 if ndim else 0
    for size in sizes:
        count *= size
    if min(sizes, default=0) < 0 or count > (len(value) - pos) // 4:
        raise MalformedDataRowError("binary array sizes exceed the value")
    action = elements.get(kind_of(elem_oid))
    if action is None:
        return value
    parts, changed, nulls = [value[:pos]], False, False
    for _ in range(count):
        if pos + 4 > len(value):
            raise MalformedDataRowError("truncated binary array element")
        length = _I32.unpack_from(value, pos)[0]
        start, pos = pos + 4, pos + 4 + max(length, 0)
        if length < -1 or pos > len(value):
            raise MalformedDataRowError("binary array element length out of range")
        elem = value[start:pos] if length >= 0 else None
        new = elem if elem is None else action(elem, tally)
        changed = changed or new is not elem
        nulls = nulls or new is None
        parts.append(_NULL_LEN if new is None else _I32.pack(len(new)) + new)
    if pos != len(value):
        raise MalformedDataRowError("trailing bytes after binary array elements")
    if not changed:
        return value
    if nulls:
        parts[0] = parts[0][:4] + _I32.pack(1) + parts[0][8:]
    return b"".join(parts)


def detector_action(kind: Kind, fmt: int, type_oid: int, scanner: Scanner) -> Action | None:
    """The action that runs the detectors on a column, or None where they cannot apply."""
    if kind is Kind.TEXT:
        return text_action(scanner)
    if kind is Kind.JSON or (kind is Kind.JSONB and fmt == 0):
        return json_action(scanner)
    if kind is Kind.JSONB:
        return jsonb_binary_action(json_action(scanner))
    if kind in (Kind.TEXT_ARRAY, Kind.JSON_ARRAY) and fmt == 1:
        return _binary_array(scanner)
    if kind is Kind.TEXT_ARRAY:
        return text_array_action(scanner)
    if kind is Kind.JSON_ARRAY:
        return null_on_find_action(scanner)
    if kind in (Kind.INTEGER, Kind.NUMERIC):
        checks = number_checks(scanner)
        if not checks:
            return None
        min_digits = min(d.number_min_digits for d, _ in checks)
        if min_digits > MAX_DIGITS.get(type_oid, min_digits):
            return None  # the type cannot hold that many digits
        if fmt == 0:
            return integer_text_action(checks, min_digits)
        return _integer_binary(checks) if kind is Kind.INTEGER else None
    if kind is Kind.OTHER and type_oid not in CANNOT_HOLD_TEXT:
        return _opaque_action(scanner, hex_text=fmt == 0 and type_oid == BYTEA)
    return None


# A record's or array's punctuation, which would join a value to its neighbours for a detector
# ("(1,4111111111111111)" reads as one number), becomes spaces before the scan.
_PUNCTUATION = bytes.maketrans(b'(),"\\{}[]', b" " * 9)


def _opaque_action(scanner: Scanner, *, hex_text: bool) -> Action:
    """A value of a type masking cannot rewrite (a record, composite, enum, extension type,
    bytea, tsvector...): nulled whole when the detectors find anything in its text or binary
    form (bytea's text form is hex: decoded first)."""
    scan = scanner.scan

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        readable = value
        if hex_text and value[:2] == b"\\x":
            try:
                readable = bytes.fromhex(value[2:].decode("ascii"))
            except ValueError:
                tally.detector("unscannable")
                return None
        found = scan(readable.translate(_PUNCTUATION))
        if not found:
            return value
        tally.findings(found)
        return None

    return act


# --- column-rule actions ---------------------------------------------------------------------


def _json_mask(text: str) -> bytes:
    core = text.strip()
    if core.startswith('"'):
        try:
            decoded = json.loads(core)
        except ValueError:
            decoded = None
        if isinstance(decoded, str):
            core = decoded
    return json.dumps(mask_value(core)).encode(_ENC)


def rule_action(kind: Kind, fmt: int, rule: str) -> Action:
    """The action for a column a rule names: a partial mask where the type allows, else 0/NULL."""

    def text(value: bytes, tally: MaskTally) -> bytes | None:
        if not value:
            return value
        tally.column(rule)
        return mask_value(value.decode(_ENC, _ERR)).encode(_ENC, _ERR)

    def as_json(value: bytes, tally: MaskTally) -> bytes | None:
        tally.column(rule)
        return _json_mask(value.decode(_ENC, _ERR))

    def as_jsonb_binary(value: bytes, tally: MaskTally) -> bytes | None:
        tally.column(rule)
        return b"\x01" + _json_mask(value[1:].decode(_ENC, _ERR))

    def zero(value: bytes, tally: MaskTally) -> bytes | None:
        tally.column(rule)
        return b"0"

    def null(value: bytes, tally: MaskTally) -> bytes | None:
        tally.column(rule)
        return None

    if kind is Kind.TEXT:
        return text  # binary text is the same UTF-8 bytes
    if kind is Kind.JSON or (kind is Kind.JSONB and fmt == 0):
        return as_json
    if kind is Kind.JSONB:
        return as_jsonb_binary
    if fmt == 0 and kind in (Kind.INTEGER, Kind.NUMERIC, Kind.OTHER_NUMBER):
        return zero
    return null
