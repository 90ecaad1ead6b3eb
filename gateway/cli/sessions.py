"""``airlock sessions list|show|replay``: recorded gateway sessions, over the HTTP API."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from gateway.cli import ssh as cli_ssh
from gateway.cli.client import ApiClient, ClientError

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
    """A recorded shell (SSH) played in the terminal; else the session's statements in order,
    with their time from the session's start."""
    with _client() as api:
        if not args.statements:
            try:
                recording = api.call(
                    "GET", f"/v1/sessions/{args.id}/recording", channel=args.channel
                )
            except ClientError as exc:
                if exc.status != 404:
                    raise
            else:
                if args.cast:
                    print(cli_ssh.cast_text(recording), end="")
                else:
                    cli_ssh.play(recording, speed=args.speed, idle_limit=args.idle_limit)
                return 0
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
    replay = sessions.add_parser(
        "replay", help="play a recorded shell, or list a session's statements with timing"
    )
    replay.add_argument("id")
    replay.add_argument("--speed", type=float, default=1.0, help="2 plays twice as fast")
    replay.add_argument("--idle-limit", type=float, default=2.0, help="longest pause, seconds")
    replay.add_argument("--channel", type=int, default=1, help="the session's n-th shell")
    replay.add_argument("--cast", action="store_true", help="print the asciicast v2 file")
    replay.add_argument("--statements", action="store_true", help="the statements, not the shell")
    replay.set_defaults(func=cmd_replay)
