"""``MYSQL.redact``: secrets replaced in shown texts and bound values, never raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.guardrails import REDACTED, Redacted
from gateway.mysql.dialect import MYSQL

SECRETS = [
    ("CREATE USER u IDENTIFIED BY 's3cret'", "CREATE USER u IDENTIFIED BY '<redacted>'"),
    ('create user u identified by "s3cret"', "create user u identified by '<redacted>'"),
    (
        "ALTER USER 'u'@'%' IDENTIFIED WITH caching_sha2_password BY 's3cret'",
        "ALTER USER 'u'@'%' IDENTIFIED WITH caching_sha2_password BY '<redacted>'",
    ),
    (
        "CREATE USER u IDENTIFIED WITH mysql_native_password AS '*94BDCEBE19083CE2A1F959FD'",
        "CREATE USER u IDENTIFIED WITH mysql_native_password AS '<redacted>'",
    ),
    (
        "CREATE USER u IDENTIFIED BY PASSWORD '*94BD'",
        "CREATE USER u IDENTIFIED BY PASSWORD '<redacted>'",
    ),
    (
        "CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('s3cret')",
        "CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('<redacted>')",
    ),
    (
        "GRANT ALL ON *.* TO u IDENTIFIED BY 's3cret'",
        "GRANT ALL ON *.* TO u IDENTIFIED BY '<redacted>'",
    ),
    ("SET PASSWORD = 's3cret'", "SET PASSWORD = '<redacted>'"),
    ("SET PASSWORD FOR u = PASSWORD('s3cret')", "SET PASSWORD FOR u = PASSWORD('<redacted>')"),
    (
        "CHANGE MASTER TO MASTER_HOST='h', MASTER_USER='r', MASTER_PASSWORD='s3cret'",
        "CHANGE MASTER TO MASTER_HOST='h', MASTER_USER='r', MASTER_PASSWORD='<redacted>'",
    ),
    (
        "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = 's3cret'",
        "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = '<redacted>'",
    ),
    (
        "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'r', PASSWORD 's3cret')",
        "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'r', PASSWORD '<redacted>')",
    ),
    (
        "CREATE TABLE f (a INT) ENGINE=FEDERATED CONNECTION='mysql://r:s3cret@h:3306/d/t'",
        "CREATE TABLE f (a INT) ENGINE=FEDERATED CONNECTION='mysql://r:<redacted>@h:3306/d/t'",
    ),
    ("SELECT AES_ENCRYPT(ssn, 'k3y') FROM t", "SELECT AES_ENCRYPT(ssn, '<redacted>') FROM t"),
    ("SELECT aes_decrypt(x, UNHEX('abcd'))", "SELECT aes_decrypt(x, UNHEX('<redacted>'))"),
    ("SELECT DES_ENCRYPT('x', 'k3y')", "SELECT DES_ENCRYPT('<redacted>', '<redacted>')"),
    ("SELECT ENCODE('x', 'k3y')", "SELECT ENCODE('<redacted>', '<redacted>')"),
    (
        "UPDATE t SET api_key = 'abc' WHERE id = 1",
        "UPDATE t SET api_key = '<redacted>' WHERE id = 1",
    ),
    ("SELECT * FROM t WHERE token = 'abc'", "SELECT * FROM t WHERE token = '<redacted>'"),
    (
        "INSERT INTO users (name, password) VALUES ('bob', 'pw1'), ('al', 'pw2')",
        "INSERT INTO users (name, password) VALUES ('bob', '<redacted>'), ('al', '<redacted>')",
    ),
    ("SET @password = 's3cret'", "SET @password = '<redacted>'"),
    ("SELECT 'host=h password=s3cret'", "SELECT 'host=h password=<redacted>'"),
    (
        "PREPARE s FROM 'CREATE USER x IDENTIFIED BY ''s3cret'''",
        "PREPARE s FROM 'CREATE USER x IDENTIFIED BY ''<redacted>'''",
    ),
    (
        "SELECT 1; CREATE USER u IDENTIFIED BY 'pw'",
        "SELECT 1; CREATE USER u IDENTIFIED BY '<redacted>'",
    ),
    ("CREATE USER u IDENTIFIED BY 'unterminated", "CREATE USER u IDENTIFIED BY '<redacted>'"),
    ("SELECT 'host=h pa\\ssword=s3cret'", "SELECT '<redacted>'"),  # the modes disagree: cut
]

CLEAN = [
    "SELECT 1",
    "SELECT * FROM t WHERE id = 5",
    "INSERT INTO t (name) VALUES ('bob')",
    "SELECT 'my password is in a comment' -- password",
    "CREATE TABLE t (passwd_hint VARCHAR(10))",
    "UPDATE t SET name = 'x' WHERE id = 1",
]


@pytest.mark.parametrize(("text", "shown"), SECRETS)
def test_secrets_are_replaced(text: str, shown: str) -> None:
    """Each secret position is replaced by '<redacted>', the rest reads as written."""
    assert MYSQL.redact(text) == Redacted(shown)


@pytest.mark.parametrize("text", CLEAN)
def test_texts_without_secrets_are_unchanged(text: str) -> None:
    """A text with no secret comes back as it is (the same string)."""
    assert MYSQL.redact(text).text == text


def test_bound_values_in_secret_positions_are_redacted() -> None:
    """``?`` in a secret position shows <redacted>; others stay, URI passwords go."""
    shown = MYSQL.redact(
        "UPDATE t SET api_key = ?, url = ? WHERE id = ?",
        [b"k", b"mysql://u:pw@h/d", b"7"],
    )
    assert shown.params == (REDACTED.encode(), f"mysql://u:{REDACTED}@h/d".encode(), b"7")
    insert = MYSQL.redact("INSERT INTO u (name, password) VALUES (?, ?)", [b"bob", None])
    assert insert.params == (b"bob", None)
    insert = MYSQL.redact("INSERT INTO u (name, password) VALUES (?, ?)", [b"bob", b"pw"])
    assert insert.params == (b"bob", REDACTED.encode())


def test_an_unreadable_text_with_a_secret_word_is_cut_and_its_values_hidden() -> None:
    """A text the lexer cannot read is cut at its first quote; every bound value goes."""
    shown = MYSQL.redact("CREATE USER u IDENTIFIED BY 's3cret\\", [b"x"])
    assert "s3cret" not in shown.text
    assert shown.params == (REDACTED.encode(),)


@given(st.text(max_size=200), st.lists(st.one_of(st.none(), st.binary(max_size=20)), max_size=4))
def test_redact_never_raises(text: str, params: list[bytes | None]) -> None:
    """Any text and values: a Redacted with as many values comes back."""
    shown = MYSQL.redact(text, params)
    assert len(shown.params) == len(params)


def test_a_text_the_sql_modes_read_differently_is_cut() -> None:
    """Under NO_BACKSLASH_ESCAPES this is CREATE USER ... 'secret': the mode is not known here."""
    text = "SELECT 'a\\' ; CREATE USER u IDENTIFIED BY 'secret' -- '"
    shown = MYSQL.redact(text, [b"v"])
    assert "secret" not in shown.text and shown.params == (REDACTED.encode(),)
