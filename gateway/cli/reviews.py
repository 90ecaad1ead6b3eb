"""``airlock reviews list|show|approve|deny``: the approvers' CLI fallback, over the HTTP API."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.cli.client import ApiClient

__all__ = ["add_commands"]


def _client() -> ApiClient:
    return ApiClient.from_env()


def _line(review: dict[str, Any]) -> str:
    what = review.get("statement") or _access(review.get("access"))
    what = " ".join(str(what).split())
    if len(what) > 60:
        what = what[:57] + "..."
    chain = " → ".join(review["requester"]["chain"])
    progress = f"{review['approvals']}/{review['quorum']}"
    return (
        f"{review['id']}  {review['state']:<9} {review['connection']:<12} {progress:<4} "
        f"{chain}  {what}"
    )


def _access(access: dict[str, Any] | None) -> str:
    if not access:
        return ""
    role = f" as {access['role']}" if access.get("role") else ""
    return f"access{role} for {access['duration_s'] // 60}m: {access['reason']}"


def cmd_list(args: argparse.Namespace) -> int:
    with _client() as api:
        reviews = api.call("GET", "/v1/reviews", state=args.state, connection=args.connection)
    if args.json:
        print(json.dumps(reviews, indent=2))
        return 0
    if not reviews:
        print("no reviews")
    for review in reviews:
        print(_line(review))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _client() as api:
        review = api.call("GET", f"/v1/reviews/{args.id}")
    print(json.dumps(review, indent=2))
    return 0


def _decide(review_id: str, outcome: str, reason: str | None) -> int:
    with _client() as api:
        review = api.call(
            "POST", f"/v1/reviews/{review_id}/decisions", {"outcome": outcome, "reason": reason}
        )
    print(f"review {review['id']} is {review['state']} ({review['approvals']}/{review['quorum']})")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reviews = sub.add_parser("reviews", help="list and decide reviews").add_subparsers(
        dest="reviews", required=True
    )
    lst = reviews.add_parser("list", help="reviews you may see")
    lst.add_argument("--state", choices=["pending", "approved", "denied", "expired", "cancelled"])
    lst.add_argument("--connection")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)
    show = reviews.add_parser("show", help="one review in full")
    show.add_argument("id")
    show.set_defaults(func=cmd_show)
    approve = reviews.add_parser("approve", help="approve a review")
    approve.add_argument("id")
    approve.add_argument("--reason")
    approve.set_defaults(func=lambda a: _decide(a.id, "approve", a.reason))
    deny = reviews.add_parser("deny", help="deny a review (the requester sees the reason)")
    deny.add_argument("id")
    deny.add_argument("--reason", required=True)
    deny.set_defaults(func=lambda a: _decide(a.id, "deny", a.reason))
