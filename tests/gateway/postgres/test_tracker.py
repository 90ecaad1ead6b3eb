"""The response FIFO: which server message answers which forwarded request (pure state)."""

from __future__ import annotations

from gateway.postgres.tracker import Expect, Pending, ResponseTracker


def _extended(tracker: ResponseTracker, name: str) -> None:
    for expect in (Expect.PARSE, Expect.BIND):
        tracker.push(Pending(expect))
    tracker.push(Pending(Expect.EXECUTE, text=name))


def test_extended_batch_in_order() -> None:
    """Parse/Bind/Execute twice and a Sync: each Execute finishes with its rows."""
    tracker = ResponseTracker()
    _extended(tracker, "a")
    _extended(tracker, "b")
    tracker.push(Pending(Expect.SYNC))
    for tag in ("SELECT 2", "SELECT 5"):
        tracker.simple_reply()
        tracker.simple_reply()
        tracker.command_complete(tag)
    tracker.ready()
    assert [(p.text, p.rows, p.error) for p in tracker.take_finished()] == [
        ("a", 2, None),
        ("b", 5, None),
    ]
    assert tracker.head is None


def test_error_skips_to_sync() -> None:
    """After an error the server ignores everything up to Sync, a simple Query included."""
    tracker = ResponseTracker()
    _extended(tracker, "a")
    tracker.push(Pending(Expect.QUERY, text="q"))
    _extended(tracker, "b")
    tracker.push(Pending(Expect.SYNC))
    tracker.push(Pending(Expect.QUERY, text="after"))
    tracker.error("42P01")  # Parse of "a" failed
    assert [(p.text, p.error) for p in tracker.take_finished()] == [
        ("a", "skipped"),
        ("q", "skipped"),
        ("b", "skipped"),
    ]
    tracker.ready()
    assert tracker.head is not None and tracker.head.text == "after"


def test_simple_query_error_waits_for_ready() -> None:
    """An error inside a simple Query finishes it only at ReadyForQuery."""
    tracker = ResponseTracker()
    tracker.push(Pending(Expect.QUERY, text="q"))
    tracker.command_complete("INSERT 0 1")
    tracker.error("23505")
    assert tracker.take_finished() == []
    tracker.ready()
    [done] = tracker.take_finished()
    assert (done.rows, done.error) == (1, "23505")


def test_unanswered_before_sync_are_skipped() -> None:
    """Requests sent after an error was already answered are skipped at ReadyForQuery."""
    tracker = ResponseTracker()
    tracker.push(Pending(Expect.PARSE))
    tracker.error("42601")
    _extended(tracker, "late")
    tracker.push(Pending(Expect.SYNC))
    tracker.ready()
    assert [(p.text, p.error) for p in tracker.take_finished()] == [("late", "skipped")]
    assert tracker.head is None


def test_portal_suspended_finishes_execute() -> None:
    """PortalSuspended finishes an Execute with a row limit."""
    tracker = ResponseTracker()
    tracker.push(Pending(Expect.EXECUTE, text="cursor"))
    tracker.portal_suspended()
    assert [p.text for p in tracker.take_finished()] == ["cursor"]
