"""Names the command line offers before it imports anything heavy: the scheduler's jobs and
the kinds of identity a token can name (tests pin them to :mod:`gateway.cli.compose` and
:class:`approvals.IdentityKind`)."""

from __future__ import annotations

__all__ = ["IDENTITY_KINDS", "JOB_NAMES"]

JOB_NAMES = (
    "expire", "idle-revoke", "review-timeouts", "reminders", "expiry-notice", "digest", "prune",
)  # fmt: skip
IDENTITY_KINDS = ("person", "service")
