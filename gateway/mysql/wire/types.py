"""Column type codes and column flags shared by the text and the binary protocol.

``ColumnType`` is ``enum_field_types`` (MySQL "Client/Server Protocol", "Column Types";
``include/field_types.h``, MariaDB ``include/mysql_com.h``): the one-byte type of a
ColumnDefinition41 and of a COM_STMT_EXECUTE parameter. ``ColumnFlag`` is the two-byte
``flags`` field of ColumnDefinition41 ("Column Definition Flags"). A COM_STMT_EXECUTE
parameter type carries a one-byte flag instead, whose only bit is ``PARAM_UNSIGNED`` (0x80).

``MASKED_COLUMN_TYPE`` is the type a listener re-types a masked column to when the masked text
cannot be carried by the column's own type (a masked DATE, say): a VAR_STRING carries any text
in both protocols. ``ColumnSpec`` is what the binary row codec needs of a column: its type and
its flags (UNSIGNED decides the integer types). ``FIXED_SIZES``, ``TEMPORAL_SIZES`` and
``LENENC_TYPES`` say how each type's binary value is delimited ("Binary Protocol Value"); a type
in none of them has no binary value."""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "FIXED_SIZES",
    "LENENC_TYPES",
    "MASKED_COLUMN_TYPE",
    "PARAM_UNSIGNED",
    "TEMPORAL_SIZES",
    "ColumnFlag",
    "ColumnSpec",
    "ColumnType",
]


class ColumnType(IntEnum):
    """``enum_field_types``: the type byte of a column definition or a bound parameter."""

    DECIMAL = 0x00
    TINY = 0x01
    SHORT = 0x02
    LONG = 0x03
    FLOAT = 0x04
    DOUBLE = 0x05
    NULL = 0x06
    TIMESTAMP = 0x07
    LONGLONG = 0x08
    INT24 = 0x09
    DATE = 0x0A
    TIME = 0x0B
    DATETIME = 0x0C
    YEAR = 0x0D
    NEWDATE = 0x0E  # internal to the server; never sent
    VARCHAR = 0x0F
    BIT = 0x10
    TIMESTAMP2 = 0x11  # internal (binlog); never sent in a resultset
    DATETIME2 = 0x12  # internal (binlog)
    TIME2 = 0x13  # internal (binlog)
    TYPED_ARRAY = 0x14  # MySQL 8 internal (replication of multi-valued indexes)
    VECTOR = 0xF2  # MySQL 9: sent as a string of packed floats
    INVALID = 0xF3
    BOOL = 0xF4  # placeholder in MySQL's source; never sent
    JSON = 0xF5  # MySQL; MariaDB sends JSON columns as LONG_BLOB / STRING
    NEWDECIMAL = 0xF6
    ENUM = 0xF7
    SET = 0xF8
    TINY_BLOB = 0xF9
    MEDIUM_BLOB = 0xFA
    LONG_BLOB = 0xFB
    BLOB = 0xFC
    VAR_STRING = 0xFD
    STRING = 0xFE
    GEOMETRY = 0xFF


class ColumnFlag(IntFlag):
    """The ``flags`` of ColumnDefinition41 ("Column Definition Flags")."""

    NOT_NULL = 0x0001
    PRI_KEY = 0x0002
    UNIQUE_KEY = 0x0004
    MULTIPLE_KEY = 0x0008
    BLOB = 0x0010
    UNSIGNED = 0x0020
    ZEROFILL = 0x0040
    BINARY = 0x0080
    ENUM = 0x0100
    AUTO_INCREMENT = 0x0200
    TIMESTAMP = 0x0400
    SET = 0x0800
    NO_DEFAULT_VALUE = 0x1000
    ON_UPDATE_NOW = 0x2000
    PART_KEY = 0x4000
    NUM = 0x8000


# The flag byte of a COM_STMT_EXECUTE parameter type: the high bit marks an unsigned integer
# (MySQL "COM_STMT_EXECUTE"; MariaDB "COM_STMT_EXECUTE", "Parameter flag").
PARAM_UNSIGNED = 0x80

# The type a masked column is re-typed to when its own type cannot carry the masked text.
MASKED_COLUMN_TYPE = ColumnType.VAR_STRING

# (type code, column flags): what the binary row codec needs of one column.
ColumnSpec = tuple[int, int]

T = ColumnType

# Fixed-size values ("Binary Protocol Value": int<1>, int<2>, int<4>, int<8>, float, double).
FIXED_SIZES: dict[int, int] = {
    T.NULL: 0,
    T.TINY: 1,
    T.SHORT: 2,
    T.YEAR: 2,
    T.LONG: 4,
    T.INT24: 4,
    T.FLOAT: 4,
    T.LONGLONG: 8,
    T.DOUBLE: 8,
}

# Temporal values: a length byte, then one of these many bytes ("ProtocolBinary::MYSQL_TYPE_DATE
# / DATETIME / TIMESTAMP": 0, 4, 7, 11; "ProtocolBinary::MYSQL_TYPE_TIME": 0, 8, 12).
TEMPORAL_SIZES: dict[int, frozenset[int]] = {
    T.DATE: frozenset((0, 4, 7, 11)),
    T.DATETIME: frozenset((0, 4, 7, 11)),
    T.TIMESTAMP: frozenset((0, 4, 7, 11)),
    T.TIME: frozenset((0, 8, 12)),
}

# Values sent as a length-encoded string (``string<lenenc>``).
LENENC_TYPES: frozenset[int] = frozenset(
    (
        T.DECIMAL,
        T.NEWDECIMAL,
        T.VARCHAR,
        T.BIT,
        T.VECTOR,
        T.JSON,
        T.ENUM,
        T.SET,
        T.TINY_BLOB,
        T.MEDIUM_BLOB,
        T.LONG_BLOB,
        T.BLOB,
        T.VAR_STRING,
        T.STRING,
        T.GEOMETRY,
    )
)
