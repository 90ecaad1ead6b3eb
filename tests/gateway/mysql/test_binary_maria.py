"""The binary row codec against the real MariaDB: a table holding every column type is read
once through the text protocol and once through a prepared statement (a raw socket, a
test-only login), and the binary values must render to the server's own text."""

from __future__ import annotations

from gateway.mysql.wire.binary import decode_row, encode_row, from_text, to_text
from gateway.mysql.wire.textform import NOT_FIXED_DEC
from gateway.mysql.wire.types import ColumnType
from tests.gateway.mysql.rawmysql import RawMySQL

T = ColumnType

EVERY_TYPE = """CREATE TABLE every_type (
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT,
  mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, f FLOAT,
  d DOUBLE, f74 FLOAT(7,4), d102 DOUBLE(10,2), de DECIMAL(20,6), dt DATE, dtt DATETIME,
  dt3 DATETIME(3), ts TIMESTAMP(6) NULL, tm TIME, tm2 TIME(2), y YEAR, c CHAR(5),
  vc VARCHAR(20), bn BINARY(3), vb VARBINARY(10), tx TEXT, bl BLOB, js JSON,
  en ENUM('a','b'), st SET('x','y'), bt BIT(10), g GEOMETRY, b1 BOOL)"""

ROWS = [
    """(-128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
    -9223372036854775808, 18446744073709551615, 1.1, 0.30000000000000004, 1.1, 3.14159,
    -12345678901234.123456, '2024-02-29', '2024-01-02 03:04:05', '2024-01-02 03:04:05.120',
    '2038-01-19 03:14:07.999999', '-838:59:59', '12:34:56.78', 2024, 'ab', 'hello', 'a\\0b',
    'xyz', 'text', 'blob', '{"a": 1}', 'b', 'x,y', b'1010101010', ST_GeomFromText('POINT(1 2)'),
    1)""",
    """(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0000-00-00', '0000-00-00 00:00:00',
    '2024-01-02 00:00:00', NULL, '00:00:00', '-00:00:01.5', 0, '', '', '', '', '', '', 'null',
    'a', '', b'0', NULL, 0)""",
    """(127, 1, 1, 1, 8388607, 1, 1, 1, 9223372036854775807, 1, 3.4e38, 1.5e300, -99.9999,
    -0.01, 0.000001, '9999-12-31', '9999-12-31 23:59:59', '1000-01-01 00:00:00.001',
    '1970-01-01 00:00:01', '838:59:59', '-12:00:00.01', 1901, 'zzzzz', 'ünïcødé', 'abc', '',
    REPEAT('x', 300), UNHEX('00FF'), '[1, 2.5, "x"]', NULL, 'y', b'1111111111',
    ST_GeomFromText('LINESTRING(0 0, 1 1)'), NULL)""",
    "(NULL" + ", NULL" * 33 + ")",
]


async def test_every_type_matches_the_text_protocol(maria_database: str) -> None:
    """MariaDB's binary values render to its text-protocol texts and re-encode exactly."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        await conn.query(EVERY_TYPE)
        await conn.query("SET time_zone = '+00:00'")
        await conn.query("INSERT INTO every_type VALUES " + ", ".join(ROWS))
        select = "SELECT *, NULL AS n, 1.5e0 AS lit FROM every_type"
        _columns, text_rows = await conn.query(select)
        ok, _ = await conn.prepare(select)
        await conn.command(b"\x17" + ok[1:5] + b"\x00\x01\x00\x00\x00")
        columns, payloads = await conn.result()
    finally:
        await conn.close()
    specs = [(c.type_code, c.flags) for c in columns]
    assert specs[-2][0] == T.NULL
    assert len(payloads) == len(text_rows) == len(ROWS)
    checked = 0
    for payload, texts in zip(payloads, text_rows, strict=True):
        row = decode_row(payload, specs)
        assert encode_row(row, specs) == payload
        for column, raw, text in zip(columns, row, texts, strict=True):
            if raw is None:
                assert text is None, column
                continue
            rendered = to_text(column.type_code, column.flags, raw, decimals=column.decimals)
            assert rendered == text, (column, raw)
            lossy = column.type_code == T.FLOAT or (
                column.type_code == T.DOUBLE and column.decimals < NOT_FIXED_DEC
            )
            if not lossy:
                assert from_text(column.type_code, column.flags, text) == raw, column
            checked += 1
    assert checked > 80
