"""The `/access` language: one table of cases, and a round-trip property over generated parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import (
    AccessCommand,
    Help,
    ListAccess,
    RequestAccess,
    Revoke,
    Status,
    is_duration,
    parse_access,
)

CASES: list[tuple[str, AccessCommand]] = [
    ("", Help()),
    ("help", Help()),
    ("list", ListAccess()),
    (
        "request pg-prod as read_only for 2h because INC-42: orders stuck",
        RequestAccess("pg-prod", "read_only", "2h", "INC-42: orders stuck"),
    ),
    ("request pg-prod for 1h30m because x", RequestAccess("pg-prod", None, "1h30m", "x")),
    ("REQUEST pg for 15m BECAUSE y", RequestAccess("pg", None, "15m", "y")),
    ("request pg-prod", RequestAccess("pg-prod")),
    ("request", RequestAccess()),
    ("request for 2h because x", RequestAccess(None, None, "2h", "x")),
    (
        "request pg because it has for and as in it",
        RequestAccess("pg", None, None, "it has for and as in it"),
    ),
    ("status 1234", Status("1234")),
    ("revoke g-1", Revoke("g-1")),
    ("revoke g-1 because done with it", Revoke("g-1", "done with it")),
]
REFUSED = [
    ("request pg for banana because x", "`banana` is not a duration"),
    ("request pg please for 2h because x", "the order is"),
    ("request pg for 2h as admin because x", "the order is"),
    ("request pg as", "the order is"),
    ("revoke", "say which grant"),
    ("status", "say which one"),
    ("list everything", "takes no arguments"),
    ("help me", "takes no arguments"),
    ("sudo request pg", "unknown command `sudo`"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parses(text: str, expected: AccessCommand) -> None:
    """Each well-formed command parses to exactly its value."""
    assert parse_access(text) == expected


@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_malformed_commands_name_the_problem(text: str, problem: str) -> None:
    """A malformed command is never guessed at: it becomes Help naming what is wrong."""
    parsed = parse_access(text)
    assert isinstance(parsed, Help) and parsed.problem is not None and problem in parsed.problem


def test_completeness() -> None:
    """A request is complete with a connection, a duration and a reason; the role is optional."""
    assert RequestAccess("pg", None, "1h", "x").complete
    assert not RequestAccess("pg", "ro", None, "x").complete
    assert not RequestAccess("pg", "ro", "1h", None).complete


_WORD = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(
    lambda w: w.lower() not in ("as", "for", "because")
)
_DURATION = st.lists(
    st.tuples(st.integers(1, 999), st.sampled_from(["s", "m", "h", "d", "w"])),
    min_size=1,
    max_size=3,
).map(lambda parts: "".join(f"{n}{u}" for n, u in parts))
_REASON = (
    st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1)
    .map(str.strip)
    .filter(bool)
)


@given(_WORD, st.none() | _WORD, _DURATION, _REASON)
def test_request_round_trips(connection: str, role: str | None, duration: str, reason: str) -> None:
    """Any request written in the documented order parses back to its parts."""
    text = (
        f"request {connection}"
        + (f" as {role}" if role else "")
        + f" for {duration} because {reason}"
    )
    assert parse_access(text) == RequestAccess(connection, role, duration, reason)
    assert is_duration(duration)


@given(st.text(max_size=60))
def test_any_text_parses_to_a_command(text: str) -> None:
    """Whatever is typed, parsing returns a command value and never raises."""
    assert isinstance(parse_access(text), Help | ListAccess | RequestAccess | Revoke | Status)
