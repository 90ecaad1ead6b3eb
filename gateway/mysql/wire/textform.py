"""The text form of a binary value, and back (MySQL "Client/Server Protocol", "Text Resultset
Row" against "Binary Protocol Value").

:func:`to_text` renders a raw binary value (see :mod:`gateway.mysql.wire.binary` for the raw
forms) as the text protocol sends the same value, so that masking detectors and the session
record see one form whichever protocol carried it, and so that a bound parameter is recorded
and bound to an approval as readable text:

- integers in decimal (UNSIGNED read from the flags; a parameter's flag byte 0x80 is
  :data:`PARAM_UNSIGNED`, which the caller maps to :attr:`ColumnFlag.UNSIGNED`); YEAR on four
  digits;
- DOUBLE with its shortest round-trip digits, FLOAT with six significant digits, both in
  fixed notation when the decimal point falls within 15 places of the digits and otherwise as
  ``1.5e300`` / ``1e-16`` (MariaDB 10.11's ``my_gcvt``, measured against the server);
  with ``decimals`` < 31 (``FLOAT(7,4)``) in fixed notation with that many decimals;
- DATE ``YYYY-MM-DD``, DATETIME / TIMESTAMP ``YYYY-MM-DD hh:mm:ss``, TIME ``[-]hhh:mm:ss``,
  the fraction on ``decimals`` digits when the column's decimals are given (0..6), else on
  six digits when it is not zero; the zero value is ``0000-00-00`` / ``00:00:00``;
- everything else (DECIMAL, strings, blobs, BIT, JSON, ENUM, SET, GEOMETRY) as its bytes.

ZEROFILL padding (which needs the column's display width) is not reproduced.

:func:`from_text` is the inverse: the raw binary value of a type for a text, in the shortest
temporal form; it raises :class:`EncodeError` when the text is no value of that type (the
listener then re-types the column to :data:`MASKED_COLUMN_TYPE` and sends the text)."""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

from gateway.mysql.wire.errors import EncodeError, MalformedPacket
from gateway.mysql.wire.types import LENENC_TYPES, ColumnFlag, ColumnType

__all__ = ["NOT_FIXED_DEC", "from_text", "to_text"]

T = ColumnType

# Column decimals at or above this mean "not fixed" (MySQL's NOT_FIXED_DEC is 31, MariaDB's 39).
NOT_FIXED_DEC = 31

_INT_SIZES: dict[int, int] = {
    T.TINY: 1,
    T.SHORT: 2,
    T.YEAR: 2,
    T.LONG: 4,
    T.INT24: 4,
    T.LONGLONG: 8,
}
_DATES = frozenset((T.DATE, T.DATETIME, T.TIMESTAMP))
_MAX_DECPT_FIXED = 15  # my_gcvt: fixed notation while -15 < decpt <= 15
_NUMBER = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(rb"[+-]?\d+")
_DATE_TEXT = re.compile(rb"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?")
_TIME_TEXT = re.compile(rb"(-)?(\d{1,9}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")


def to_text(type_code: int, flags: int, raw: bytes, *, decimals: int | None = None) -> bytes:
    """The text protocol's form of the raw binary value ``raw`` of ``type_code``."""
    size = _INT_SIZES.get(type_code)
    if size is not None:
        _need(raw, size, type_code)
        if type_code == T.YEAR:
            return b"%04d" % int.from_bytes(raw, "little")
        return b"%d" % int.from_bytes(raw, "little", signed=not flags & ColumnFlag.UNSIGNED)
    if type_code == T.DOUBLE:
        _need(raw, 8, type_code)
        return _float_text(struct.unpack("<d", raw)[0], None, decimals)
    if type_code == T.FLOAT:
        _need(raw, 4, type_code)
        return _float_text(struct.unpack("<f", raw)[0], 6, decimals)
    if type_code in _DATES:
        return _date_text(type_code, raw, decimals)
    if type_code == T.TIME:
        return _time_text(raw, decimals)
    if type_code == T.NULL:
        raise MalformedPacket("a NULL-typed value has no text form")
    return raw


def _need(raw: bytes, size: int, type_code: int) -> None:
    if len(raw) != size:
        raise MalformedPacket(f"a value of type {type_code:#04x} has {size} bytes, not {len(raw)}")


def _float_text(value: float, digits: int | None, decimals: int | None) -> bytes:
    """my_gcvt's rendering: ``digits`` significant digits (None: shortest round trip)."""
    if math.isnan(value) or math.isinf(value):
        return repr(value).encode()
    if decimals is not None and decimals < NOT_FIXED_DEC:
        return f"{value:.{decimals}f}".encode()
    text = repr(value) if digits is None else f"{value:.{digits}g}"
    sign, mantissa, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)  # finite
    figures = "".join(map(str, mantissa)).rstrip("0")
    if not figures:
        return b"-0" if sign else b"0"
    exponent += len(mantissa) - len(figures)
    decpt = len(figures) + exponent  # value = 0.figures * 10**decpt
    prefix = "-" if sign else ""
    if -_MAX_DECPT_FIXED < decpt <= _MAX_DECPT_FIXED:
        if decpt <= 0:
            body = "0." + "0" * -decpt + figures
        elif decpt >= len(figures):
            body = figures + "0" * (decpt - len(figures))
        else:
            body = figures[:decpt] + "." + figures[decpt:]
    else:
        tail = "." + figures[1:] if len(figures) > 1 else ""
        body = f"{figures[0]}{tail}e{decpt - 1}"
    return (prefix + body).encode()


def _fraction(micro: int, decimals: int | None) -> bytes:
    if decimals is None or decimals >= NOT_FIXED_DEC:
        return b".%06d" % micro if micro else b""
    if decimals <= 0:
        return b""
    digits = min(decimals, 6)
    return b"." + (b"%06d" % micro)[:digits]


def _date_text(type_code: int, raw: bytes, decimals: int | None) -> bytes:
    if len(raw) not in (0, 4, 7, 11):
        raise MalformedPacket(f"a {len(raw)}-byte date")
    padded = raw + bytes(11 - len(raw))
    year = int.from_bytes(padded[0:2], "little")
    month, day, hour, minute, second = padded[2:7]
    micro = int.from_bytes(padded[7:11], "little")
    date = b"%04d-%02d-%02d" % (year, month, day)
    if type_code == T.DATE:
        return date
    return date + b" %02d:%02d:%02d" % (hour, minute, second) + _fraction(micro, decimals)


def _time_text(raw: bytes, decimals: int | None) -> bytes:
    if len(raw) not in (0, 8, 12):
        raise MalformedPacket(f"a {len(raw)}-byte time")
    padded = raw + bytes(12 - len(raw))
    if padded[0] > 1:
        raise MalformedPacket("a time's sign byte is neither 0 nor 1")
    sign = b"-" if padded[0] else b""
    hours = int.from_bytes(padded[1:5], "little") * 24 + padded[5]
    minute, second = padded[6], padded[7]
    micro = int.from_bytes(padded[8:12], "little")
    clock = b"%02d:%02d:%02d" % (hours, minute, second)
    return sign + clock + _fraction(micro, decimals)


def from_text(type_code: int, flags: int, text: bytes) -> bytes:
    """The raw binary value of ``type_code`` whose text form is ``text``; EncodeError when the
    text is no value of that type."""
    size = _INT_SIZES.get(type_code)
    if size is not None:
        if not _INTEGER.fullmatch(text):
            raise EncodeError(f"{text!r} is not an integer")
        value = int(text)
        unsigned = bool(flags & ColumnFlag.UNSIGNED) or type_code == T.YEAR
        low, high = (
            (0, 1 << (8 * size)) if unsigned else (-(1 << (8 * size - 1)), 1 << (8 * size - 1))
        )
        if type_code == T.INT24:  # sent on four bytes, holds three
            low, high = (0, 1 << 24) if unsigned else (-(1 << 23), 1 << 23)
        if not low <= value < high:
            raise EncodeError(f"{value} does not fit a value of type {type_code:#04x}")
        return value.to_bytes(size, "little", signed=value < 0)
    if type_code in (T.DOUBLE, T.FLOAT):
        if not _NUMBER.fullmatch(text):
            raise EncodeError(f"{text!r} is not a number")
        number = float(text)
        try:
            packed = struct.pack("<d" if type_code == T.DOUBLE else "<f", number)
        except OverflowError as exc:
            raise EncodeError(f"{text!r} is out of range for a float") from exc
        if math.isinf(number):
            raise EncodeError(f"{text!r} is out of range for a double")
        return packed
    if type_code in _DATES:
        raw = _date_raw(text)
        if type_code == T.DATE and len(raw) > 4:
            raise EncodeError(f"{text!r} is not a date without a time")
        return raw
    if type_code == T.TIME:
        return _time_raw(text)
    if type_code in (T.DECIMAL, T.NEWDECIMAL) and not _NUMBER.fullmatch(text):
        raise EncodeError(f"{text!r} is not a decimal")
    if type_code not in LENENC_TYPES:
        raise EncodeError(f"no binary value has the type {type_code:#04x}")
    return text


def _micro(fraction: bytes | None) -> int:
    return int((fraction or b"0").ljust(6, b"0"))


def _date_raw(text: bytes) -> bytes:
    match = _DATE_TEXT.fullmatch(text)
    if match is None:
        raise EncodeError(f"{text!r} is not a date")
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    hour, minute, second = (int(g or b"0") for g in match.group(4, 5, 6))
    micro = _micro(match.group(7))
    if month > 12 or day > 31 or hour > 23 or minute > 59 or second > 59:
        raise EncodeError(f"{text!r} is not a date")
    raw = year.to_bytes(2, "little") + bytes((month, day, hour, minute, second))
    raw += micro.to_bytes(4, "little")
    return _shortest(raw, (0, 4, 7, 11))


def _time_raw(text: bytes) -> bytes:
    match = _TIME_TEXT.fullmatch(text)
    if match is None:
        raise EncodeError(f"{text!r} is not a time")
    hours, minute, second = (int(g) for g in match.group(2, 3, 4))
    if minute > 59 or second > 59 or hours // 24 >= 1 << 32:
        raise EncodeError(f"{text!r} is not a time")
    micro = _micro(match.group(5))
    negative = match.group(1) is not None
    raw = bytes((negative,)) + (hours // 24).to_bytes(4, "little")
    raw += bytes((hours % 24, minute, second)) + micro.to_bytes(4, "little")
    return _shortest(raw, (0, 8, 12))


def _shortest(raw: bytes, sizes: tuple[int, ...]) -> bytes:
    """Cut a full temporal value to its shortest form: trailing fields that are zero go."""
    for size in sizes:
        if not any(raw[size:]):
            return raw[:size]
    return raw
