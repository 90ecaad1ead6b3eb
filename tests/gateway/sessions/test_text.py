"""A session's remembered redactor: a text redacted once, whoever asks again."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.guardrails import Redacted
from gateway.postgres.dialect import POSTGRES
from gateway.sessions.text import remembered


class Counting:
    """The PostgreSQL dialect's redactor, counting the texts it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, text: str, params: Sequence[bytes | None] = ()) -> Redacted:
        self.asked.append(text)
        return POSTGRES.redact(text, params)


def test_a_text_is_redacted_once_and_answered_the_same() -> None:
    """The journal and the statement log asking about one text cost one redaction, same answer."""
    inner = Counting()
    shown = remembered(inner)
    secret = "ALTER ROLE app PASSWORD 'Hunter2-secret'"
    first, again = shown(secret), shown(secret)
    assert first == again == POSTGRES.redact(secret)
    assert "Hunter2-secret" not in again.text
    assert inner.asked == [secret]


def test_texts_with_parameters_are_always_redacted_afresh() -> None:
    """A text with bound values is redacted with them each time (their values differ)."""
    inner = Counting()
    shown = remembered(inner)
    sql = "SELECT pgp_sym_encrypt('x', $1)"
    assert shown(sql, (b"key-1",)) == POSTGRES.redact(sql, (b"key-1",))
    shown(sql, (b"key-2",))
    assert inner.asked == [sql, sql]


def test_it_keeps_at_most_size_answers() -> None:
    """Past ``size`` texts it starts over: memory stays bounded, answers stay right."""
    inner = Counting()
    shown = remembered(inner, size=2)
    for text in ("SELECT 1", "SELECT 2", "SELECT 3", "SELECT 1"):
        assert shown(text).text == text
    assert inner.asked == ["SELECT 1", "SELECT 2", "SELECT 3", "SELECT 1"]
