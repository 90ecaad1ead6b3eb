"""PostgreSQL built-in type OIDs (src/include/catalog/pg_type.dat) grouped by what masking can do.

RowDescription reports a domain column with its base type's OID, so domains over text are text
here. Types with no fixed OID (citext, enums) are unknown unless the session names them.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["CANNOT_HOLD_TEXT", "Kind", "kind_of"]

BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, XML, FLOAT4, FLOAT8, UNKNOWN, BPCHAR, VARCHAR, NUMERIC, JSONB = (
    114, 142, 700, 701, 705, 1042, 1043, 1700, 3802
)  # fmt: skip


class Kind(Enum):
    """What a column's values look like to the masker."""

    TEXT = "text"  # text form is the value; binary form is the same bytes
    JSON = "json"  # JSON text (binary: same bytes)
    JSONB = "jsonb"  # JSON text; binary form is a version byte then the text
    TEXT_ARRAY = "text_array"  # array of TEXT elements
    JSON_ARRAY = "json_array"  # array of json or jsonb elements
    INTEGER = "integer"  # int4 / int8: may hold a card, SSN or phone number as a number
    NUMERIC = "numeric"  # numeric: the same, text form only
    OTHER_NUMBER = "other_number"  # int2, oid, floats: a column rule gives 0, detectors skip
    OTHER = "other"  # bool, dates, uuid, bytea, money, unknown OIDs...: NULL under a rule


_KINDS: dict[int, Kind] = {
    TEXT: Kind.TEXT,
    VARCHAR: Kind.TEXT,
    BPCHAR: Kind.TEXT,
    NAME: Kind.TEXT,
    UNKNOWN: Kind.TEXT,
    XML: Kind.TEXT,
    JSON: Kind.JSON,
    JSONB: Kind.JSONB,
    1009: Kind.TEXT_ARRAY,  # text[]
    1015: Kind.TEXT_ARRAY,  # varchar[]
    1014: Kind.TEXT_ARRAY,  # bpchar[]
    1003: Kind.TEXT_ARRAY,  # name[]
    143: Kind.TEXT_ARRAY,  # xml[]
    199: Kind.JSON_ARRAY,  # json[]
    3807: Kind.JSON_ARRAY,  # jsonb[]
    INT4: Kind.INTEGER,
    INT8: Kind.INTEGER,
    NUMERIC: Kind.NUMERIC,
    INT2: Kind.OTHER_NUMBER,
    OID: Kind.OTHER_NUMBER,
    FLOAT4: Kind.OTHER_NUMBER,
    FLOAT8: Kind.OTHER_NUMBER,
}

# element type of each array type, for the binary array format
ARRAY_ELEMENT: dict[int, int] = {
    1009: TEXT, 1015: VARCHAR, 1014: BPCHAR, 1003: NAME, 143: XML, 199: JSON, 3807: JSONB
}  # fmt: skip

# largest number of decimal digits a value of the type can have
MAX_DIGITS: dict[int, int] = {INT4: 10, INT8: 19}


def kind_of(type_oid: int, extra_text: frozenset[int] = frozenset()) -> Kind:
    """The masking kind of a type OID (``extra_text``: e.g. citext's OID in this database)."""
    if type_oid in extra_text:
        return Kind.TEXT
    return _KINDS.get(type_oid, Kind.OTHER)


# Built-in types of the OTHER kind whose values cannot carry text (docs 8, "Data Types"): bool,
# "char", tid/xid/cid, money, geometric types, network addresses, bit strings, dates and
# times, uuid, pg_lsn, numeric ranges and their multiranges, int2vector/oidvector and the
# reg* types (catalog object names). Every other OTHER type (records,
# composites, enums and extension types, bytea, tsvector, text ranges...) may hold text, so the
# detectors read it (and null the value on a find: its structure is not known here).
CANNOT_HOLD_TEXT = frozenset(
    {BOOL, CHAR, 27, 28, 29, 790, 600, 601, 602, 603, 604, 628, 718, 869, 650, 829, 774}
    | {1560, 1562, 1082, 1083, 1114, 1184, 1186, 1266, 2950, 3220, 5069}
    | {3904, 3906, 3908, 3910, 3912, 3926, 4451, 4532, 4533, 4534, 4535, 4536}
    | {22, 24, 30, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191}
)
