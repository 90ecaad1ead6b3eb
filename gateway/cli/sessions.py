"""``airlock sessions list|show|replay``: recorded gateway sessions, over the HTTP API."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from gateway.cli.client import ApiClient

__all__ = ["add_commands"]


def _client() -> ApiClient:
    return ApiClient.from_env()


def cmd_list(args: argparse.Namespace) -> int:
    with _client() as api:
        found = api.call("GET", "/v1/sessions", connection=args.connection, active=args.active)
    if not found:
        print("no sessions")
    for s in found:
        ended = s["ended_at"] or "live"
        chain = " → ".join(s["chain"])
        count = s["stats"].get("statements", "-")
        print(f"{s['id']}  {s['connection']:<12} {s['started_at']}  {ended}  {count:>6}  {chain}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _client() as api:
        print(json.dumps(api.call("GET", f"/v1/sessions/{args.id}"), indent=2))
    return 0


def _replay_line(start: datetime, item: dict[str, Any]) -> str:
    offset = (datetime.fromisoformat(item["at"]) - start).total_seconds()
    text = " ".join(str(item["statement"]).split())
    extra = f" rows={item['rows']}" if item.get("rows") else ""
    if item.get("review_id"):
        extra += f" review={item['review_id']}"
    if item.get("error"):
        extra += f" error={item['error']!r}"
    return f"+{offset:9.3f}s  {item['outcome']:<7} {text}{extra}"


def cmd_replay(args: argparse.Namespace) -> int:
    """The session's statements in order, with their time from the session's start."""
    with _client() as api:
        session = api.call("GET", f"/v1/sessions/{args.id}")
    start = datetime.fromisoformat(session["started_at"])
    print(f"# session {session['id']} on {session['connection']} by {' → '.join(session['chain'])}")
    for item in session["statements"]:
        print(_replay_line(start, item))
    if session["ended_at"]:
        print(f"# ended {session['ended_at']} ({session['stats'].get('end', 'closed')})")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = sub.add_parser("sessions", help="recorded sessions").add_subparsers(
        dest="sessions", required=True
    )
    lst = sessions.add_parser("list", help="sessions you may see, newest first")
    lst.add_argument("--connection")
    lst.add_argument("--active", action="store_true", default=None)
    lst.set_defaults(func=cmd_list)
    show = sessions.add_parser("show", help="one session and its statements, as JSON")
    show.add_argument("id")
    show.set_defaults(func=cmd_show)
    replay = sessions.add_parser("replay", help="a session's statements in order, with timing")
    replay.add_argument("id")
    replay.set_defaults(func=cmd_replay)
