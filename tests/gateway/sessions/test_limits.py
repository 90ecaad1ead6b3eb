"""The session caps' arithmetic (gateway.sessions.limits): what each cap counts, in which order
they are checked, and that a released place leaves no entry behind."""

from __future__ import annotations

import pytest

from approvals import Actor, Identity
from gateway.sessions import LimitRefused, Limits

ALICE = Identity("alice@example.com")
ALICE_VIA_AGENT = Identity("alice@example.com", actors=(Actor("sql-agent"),))
BOB = Identity("bob@example.com")


def test_the_process_cap() -> None:
    """Past max_sessions every identity is refused, naming the cap; a release frees a place."""
    limits = Limits(max_sessions=2, per_identity=5)
    first, _ = limits.admit(ALICE, "pg"), limits.admit(BOB, "pg")
    with pytest.raises(LimitRefused) as caught:
        limits.admit(Identity("carol@example.com"), "pg")
    assert caught.value.rule == "limits/max_sessions" and caught.value.cap == 2
    assert "max_sessions = 2" in caught.value.message
    first.release()
    limits.admit(Identity("carol@example.com"), "pg")
    assert limits.open == 2


def test_the_identity_cap_counts_the_root_subject() -> None:
    """alice's sessions through an agent count against alice; bob is not affected."""
    limits = Limits(max_sessions=10, per_identity=2)
    limits.admit(ALICE, "pg")
    limits.admit(ALICE_VIA_AGENT, "pg")
    for who in (ALICE, ALICE_VIA_AGENT, Identity("alice@example.com", actors=(Actor("x"),))):
        with pytest.raises(LimitRefused) as caught:
            limits.admit(who, "pg")
        assert caught.value.rule == "limits/per_identity"
        assert "alice@example.com" in caught.value.message
    limits.admit(BOB, "pg")
    assert limits.by_identity == {"alice@example.com": 2, "bob@example.com": 1}


def test_a_connections_cap() -> None:
    """A connection's own cap holds only for that connection."""
    limits = Limits(max_sessions=10, per_identity=10, per_connection={"small": 1})
    limits.admit(ALICE, "small")
    with pytest.raises(LimitRefused) as caught:
        limits.admit(BOB, "small")
    assert caught.value.rule == "limits/per_connection" and "small" in caught.value.message
    limits.admit(BOB, "other")


def test_release_is_once_and_leaves_nothing() -> None:
    """Releasing twice gives back one place; once all are released every count is gone."""
    limits = Limits(max_sessions=3, per_identity=3)
    slots = [limits.admit(ALICE, "pg"), limits.admit(ALICE_VIA_AGENT, "pg"), limits.admit(BOB, "x")]
    slots[0].release()
    slots[0].release()
    assert limits.open == 2 and limits.by_identity["alice@example.com"] == 1
    for slot in slots:
        slot.release()
    assert (limits.open, limits.by_identity, limits.by_connection) == (0, {}, {})


def test_connections_before_admission() -> None:
    """Client connections of any state are bounded at twice max_sessions; a ticket is given back
    once."""
    limits = Limits(max_sessions=2)
    tickets = [limits.connection() for _ in range(4)]
    assert all(t is not None for t in tickets) and limits.connection() is None
    ticket = tickets[0]
    assert ticket is not None
    ticket.release()
    ticket.release()
    assert limits.connections == 3 and limits.connection() is not None


def test_caps_are_positive() -> None:
    """A cap below one is a configuration error."""
    with pytest.raises(ValueError, match="at least 1"):
        Limits(max_sessions=0)
