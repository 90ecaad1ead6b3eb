"""SSH on the command line: ``airlock ssh-key add|list|remove`` (public keys registered to an
identity, over the HTTP API) and ``airlock sessions replay ID``'s player for recorded shells
(asciicast v2).

``play`` writes each output event to the terminal at its time (``speed`` times faster; pauses
longer than ``idle_limit`` seconds shortened to it), as ``asciinema play`` does; ``--cast``
prints the recording as an asciicast v2 file instead (``airlock sessions replay ID --cast >
s.cast; asciinema play s.cast``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from gateway.cli.client import ApiClient

__all__ = ["add_commands", "cast_text", "play"]


def cast_text(recording: dict[str, Any]) -> str:
    """The recording as an asciicast v2 file."""
    lines = [json.dumps(recording["header"])]
    lines += [json.dumps(event, ensure_ascii=False) for event in recording["events"]]
    return "\n".join(lines) + "\n"


def play(
    recording: dict[str, Any],
    *,
    speed: float = 1.0,
    idle_limit: float = 2.0,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Play the output events at their times; returns the seconds it waited in all."""
    stream = out if out is not None else sys.stdout
    waited, last = 0.0, 0.0
    for at, code, data in recording["events"]:
        pause = min(max(float(at) - last, 0.0), idle_limit) / max(speed, 1e-6)
        last = float(at)
        if code != "o":
            continue
        if pause > 0:
            sleep(pause)
            waited += pause
        stream.write(data)
        stream.flush()
    return waited


def cmd_key_add(args: argparse.Namespace) -> int:
    """Register a public key (a .pub file or the line itself) for oneself or, as an admin, for
    ``--subject`` with ``--groups``."""
    text = args.key
    if not text.startswith(("ssh-", "ecdsa-", "sk-")):  # a file, not the key's line
        text = Path(text).read_text(encoding="utf-8")
    body: dict[str, Any] = {"public_key": text.strip()}
    if args.subject:
        body.update(subject=args.subject, groups=args.groups or [])
    with ApiClient.from_env() as api:
        key = api.call("POST", "/v1/ssh-keys", json=body)
    print(f"{key['fingerprint']}  {key['subject']}  {' '.join(key['groups'])}")
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    with ApiClient.from_env() as api:
        keys = api.call("GET", "/v1/ssh-keys")
    if not keys:
        print("no ssh keys")
    for key in keys:
        comment = key["comment"] or ""
        print(f"{key['fingerprint']}  {key['subject']:<24} {key['added_at']}  {comment}")
    return 0


def cmd_key_remove(args: argparse.Namespace) -> int:
    with ApiClient.from_env() as api:
        api.call("DELETE", f"/v1/ssh-keys/{quote(args.fingerprint, safe=':/')}")
    print(f"removed {args.fingerprint}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("ssh-key", help="public keys for the SSH listener").add_subparsers(
        dest="ssh_key", required=True
    )
    add = keys.add_parser("add", help="register a public key (yours, or --subject's as admin)")
    add.add_argument("key", help="a .pub file, or the key's line")
    add.add_argument("--subject", help="admins: whose key it is")
    add.add_argument("--groups", nargs="*", help="admins: that identity's groups")
    add.set_defaults(func=cmd_key_add)
    lst = keys.add_parser("list", help="your keys (admins and auditors: every key)")
    lst.set_defaults(func=cmd_key_list)
    remove = keys.add_parser("remove", help="remove a key by its SHA256: fingerprint")
    remove.add_argument("fingerprint")
    remove.set_defaults(func=cmd_key_remove)
