"""The PostgreSQL redactor (gateway.postgres.dialect.redact) over the redaction corpus: every
secret goes, what is not secret stays readable, bound values in secret positions are hidden,
and no text makes it raise or show more."""

from __future__ import annotations

import itertools
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parser

from gateway.guardrails import REDACTED
from gateway.postgres.dialect import POSTGRES, redact_text
from gateway.postgres.dialect.redact import redact
from tests.gateway.postgres.dialect.redact_corpus import CLEAN, SECRETS, Secret

_counter = itertools.count()


def _secret() -> str:
    return f"Zq{next(_counter):04d}sEcR3t"


def _fill(case: Secret) -> tuple[str, str]:
    secret = _secret()
    return case.sql.replace("{s}", secret), secret


def _scans(case: Secret) -> bool:
    try:
        parser.scan(case.sql)
    except Exception:
        return False
    return True


SCANNABLE = [case for case in SECRETS if _scans(case)]


def test_corpus_is_large() -> None:
    """The corpus covers every form of the class with variants (grow it, never shrink it)."""
    assert len(SECRETS) >= 100
    assert len(CLEAN) >= 20


@pytest.mark.parametrize("case", SECRETS, ids=str)
def test_secret_is_redacted(case: Secret) -> None:
    """The secret is gone from the shown text; the parts named in ``keep`` are still there."""
    sql, secret = _fill(case)
    shown = redact(sql).text
    assert secret not in shown, shown
    assert secret.lower() not in shown.lower(), shown
    assert "redacted" in shown
    for part in case.keep:
        assert part in shown, shown


@pytest.mark.parametrize("case", SCANNABLE, ids=str)
def test_secret_is_redacted_with_comments_between_tokens(case: Secret) -> None:
    """Comments and line breaks between every token (the server ignores them) hide nothing."""
    sql, secret = _fill(case)
    tokens = parser.scan(sql)  # offsets in characters
    spaced = "/* c */\n".join(sql[t.start : t.end + 1] for t in tokens)
    shown = redact(spaced).text
    assert secret not in shown, shown


@pytest.mark.parametrize("case", SECRETS, ids=str)
def test_redaction_is_stable(case: Secret) -> None:
    """Redacting a redacted text changes nothing more (what is stored is a fixed point)."""
    sql, _ = _fill(case)
    once = redact(sql).text
    assert redact(once).text == once


@pytest.mark.parametrize("sql", CLEAN)
def test_clean_statement_is_untouched(sql: str) -> None:
    """A statement with nothing secret is shown exactly as written."""
    assert redact(sql).text == sql


@pytest.mark.parametrize(
    ("sql", "params", "shown"),
    [
        ("SELECT pgp_sym_encrypt('x', $1)", (b"k",), (b"<redacted>",)),
        ("SELECT pgp_sym_encrypt($1, $2)", (b"data", b"k"), (b"data", b"<redacted>")),
        ("SELECT crypt($1, $2)", (b"pw", b"salt"), (b"<redacted>", b"<redacted>")),
        ("SELECT set_config('app.secret', $1, false)", (b"v",), (b"<redacted>",)),
        ("SELECT set_config($1, $2, false)", (b"app.x", b"v"), (b"app.x", b"<redacted>")),
        ("UPDATE users SET password = $1 WHERE id = $2", (b"pw", b"7"), (b"<redacted>", b"7")),
        ("INSERT INTO users (id, api_key) VALUES ($1, $2)", (b"1", b"k"), (b"1", b"<redacted>")),
        ("SELECT * FROM users WHERE token = $1", (b"t",), (b"<redacted>",)),
        ("SELECT dblink_connect($1)", (b"host=db password=pw",), (b"host=db password=<redacted>",)),
        ("SELECT $1::text", (b"postgres://u:pw@h/d",), (b"postgres://u:<redacted>@h/d",)),
        ("SELECT $1, $2", (None, b"plain"), (None, b"plain")),
        ("SELECT * FROM t WHERE id = $1", (b"5",), (b"5",)),
        ("ALTER ROLEX $1 password", (b"x",), (b"<redacted>",)),
    ],
)
def test_bound_values(
    sql: str, params: tuple[bytes | None, ...], shown: tuple[bytes | None, ...]
) -> None:
    """A value bound in a secret position is shown as <redacted>; a recognisable secret in
    any value loses its secret part; other values and NULLs are shown as they are."""
    assert POSTGRES.redact(sql, params).params == shown


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE pg_authid SET rolpassword = 'md5" + "0123456789abcdef" * 2 + "' WHERE oid = 1",
        "SELECT 'md5" + "fedcba9876543210" * 2 + "' AS verifier",
        "SELECT 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy'",
    ],
)
def test_password_verifiers_are_secrets(sql: str) -> None:
    """An md5 hash or a SCRAM verifier logs in as well as the password (pass-the-hash)."""
    shown = redact(sql).text
    assert "0123456789abcdef" not in shown and "fedcba98" not in shown
    assert "c3RvcmVk" not in shown


def test_literal_is_replaced_in_place() -> None:
    """Only the literal's bytes change: comments, case, spacing and the rest read as written."""
    sql = "alter ROLE  app /* why */ password 'hunter2' VALID UNTIL 'infinity' -- rotate"
    assert redact(sql).text == (
        "alter ROLE  app /* why */ password '<redacted>' VALID UNTIL 'infinity' -- rotate"
    )


def test_connection_string_keeps_what_is_not_secret() -> None:
    """A conninfo loses its password only: host, user and database stay for the approver."""
    sql = (
        "CREATE SUBSCRIPTION s CONNECTION 'host=db user=rep password=hunter2 dbname=app' "
        "PUBLICATION p"
    )
    assert redact(sql).text == (
        "CREATE SUBSCRIPTION s CONNECTION 'host=db user=rep password=<redacted> dbname=app' "
        "PUBLICATION p"
    )


@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        (
            "ALTER SYSTEM SET primary_conninfo = 'host=primary user=rep password=hunter2'",
            "ALTER SYSTEM SET primary_conninfo = 'host=primary user=rep password=<redacted>'",
        ),
        (
            "SELECT dblink_connect('c1', 'host=db password=hunter2'), 'café'",
            "SELECT dblink_connect('c1', 'host=db password=<redacted>'), 'café'",
        ),
        (
            "ALTER ROLE app PASSWORD 'hunter2' VALID UNTIL 'infinity'",
            "ALTER ROLE app PASSWORD '<redacted>' VALID UNTIL 'infinity'",
        ),
    ],
)
def test_only_the_secret_part_goes(sql: str, shown: str) -> None:
    """Connection strings keep where they point; other literals of the statement stay."""
    assert redact(sql).text == shown


def test_sql_inside_a_do_block_stays_readable() -> None:
    """A DO block's SQL is shown (its secrets redacted), so the approver reads what it runs."""
    sql = "DO $$ BEGIN EXECUTE 'DROP TABLE orders'; ALTER ROLE app PASSWORD 'hunter2'; END $$"
    shown = redact(sql).text
    assert "EXECUTE 'DROP TABLE orders'" in shown
    assert "hunter2" not in shown


def test_dblink_sql_argument_stays_readable() -> None:
    """dblink_exec's SQL is shown; only the connection string's password goes."""
    shown = redact("SELECT dblink_exec('host=db password=hunter2', 'DROP TABLE t')").text
    assert shown == "SELECT dblink_exec('host=db password=<redacted>', 'DROP TABLE t')"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    """Any text gets a shown text (never an exception): the statement log must always write."""
    assert isinstance(redact(text).text, str)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(SECRETS),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=30),
)
def test_any_secret_value_is_redacted(case: Secret, noise: str) -> None:
    """Whatever the secret's characters (quotes and backslashes doubled as the literal needs),
    the case's secret never shows."""
    secret = "Zq" + "".join(c for c in noise if c.isalnum()) + "9x"
    sql = case.sql.replace("{s}", secret)
    shown = redact(sql).text
    assert secret not in shown, shown


# -- the skeleton memo of ``triggered``: texts that differ only in their numbers ---------------


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("0123456789abdeikmnoprstuwy_:/\\&' =pg$"), max_size=60),
)
def test_triggered_never_answers_less_than_the_word_search(text: str) -> None:
    """Whatever skeletons the memo holds, a text the word search would look at is triggered."""
    redact_text.triggered(text.translate(str.maketrans("", "", "0123456789")))  # its skeleton
    if redact_text.needs(text.lower()) != redact_text.NOTHING:
        assert redact_text.triggered(text)


def test_a_verifier_whose_skeleton_was_seen_clean_is_still_redacted() -> None:
    """``md5`` + 32 hex digits loses its digits in the skeleton (``'md'``, as a clean text's):
    the md5 test is made on the text itself."""
    seen = "SELECT v FROM t WHERE v = 'md'"
    assert POSTGRES.redact(seen).text == seen
    secret = "md5" + "0123456789" * 3 + "01"
    shown = POSTGRES.redact(f"SELECT v FROM t WHERE v = '{secret}'").text
    assert secret not in shown


def test_texts_that_differ_in_numbers_share_one_skeleton() -> None:
    redact_text._SKELETONS.clear()
    for k in range(100):
        assert not redact_text.triggered(f"SELECT abalance FROM pgbench_accounts WHERE aid = {k};")
    assert len(redact_text._SKELETONS) == 1
    assert redact_text.triggered("SELECT 1 FROM accounts WHERE password = 7")


def test_a_text_that_needed_a_look_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal and the statement log both ask for a text: a parse is done once."""
    module = sys.modules["gateway.postgres.dialect.redact"]

    calls: list[str] = []
    real = module.redact_text

    def counting(text: str, depth: int = 0) -> tuple[str, frozenset[int]]:
        calls.append(text)
        shown, hidden = real(text, depth)
        return str(shown), frozenset(hidden)

    monkeypatch.setattr(module, "redact_text", counting)
    text = f"ALTER ROLE r PASSWORD '{_secret()}'"
    first, second = POSTGRES.redact(text), POSTGRES.redact(text)
    assert first == second and "sEcR3t" not in first.text
    assert calls == [text]
    bound = POSTGRES.redact("SELECT set_config('app.password', $1, false)", [b"hunter2"])
    assert bound.params == (REDACTED.encode(),)
    long = f"SELECT '{'x' * module.LOOKED_MAX}' AS token"
    POSTGRES.redact(long), POSTGRES.redact(long)
    assert calls.count(long) == 2  # too long to remember
