"""The ERR packets a MySQL session answers with when the gateway refuses something.

Each names the rule that refused it (the audit records the same name) and carries the error
number and SQLSTATE the client sees (ARCHITECTURE.md, "MySQL"): 1227
(ER_SPECIFIC_ACCESS_DENIED_ERROR, 42000) for a block or a denial with the approver's reason,
3024 (ER_QUERY_TIMEOUT, HY000) for a hold nobody decided in time, 1317 (ER_QUERY_INTERRUPTED,
70100) for a hold the client cancelled, 1045 (ER_ACCESS_DENIED_ERROR, 28000) for a bad token,
1044 (ER_DBACCESS_DENIED_ERROR, 42000) for no access to the connection, 1040
(ER_CON_COUNT_ERROR, 08004) past the session caps, 1049 (ER_BAD_DB_ERROR, 42000) for no such
connection, 3159 (ER_SECURE_TRANSPORT_REQUIRED, HY000) for a plaintext connection that must
use TLS, 1300 (ER_INVALID_CHARACTER_STRING) for text that is not UTF-8, 1047
(ER_UNKNOWN_COM_ERROR, 08S01) for a command the gateway does not relay, 1235
(ER_NOT_SUPPORTED_YET, 42000) for one it does not support yet, 1927 (ER_CONNECTION_KILLED,
70100) when the gateway ends the session, and 1105 (ER_UNKNOWN_ERROR) with a 53000-style message
when the audit trail cannot take what would run.
"""

from __future__ import annotations

from gateway.guardrails import Verdict
from gateway.mysql.wire import Err
from gateway.sessions import STORE_RULE, Held, HoldOutcome

__all__ = [
    "BACKLOG",
    "JOURNAL",
    "UTF8",
    "audit_behind",
    "blocked",
    "held_refusal",
    "not_utf8",
    "unjournaled",
    "unsupported",
]

UTF8 = "protocol/utf8"
BACKLOG = "audit/backlog"
JOURNAL = "audit/journal"
COMMAND = "protocol/command"  # the rule named for commands the gateway does not relay


def blocked(verdict: Verdict) -> Err:
    return Err(1227, "42000", f"blocked by rule {verdict.rule}: {verdict.reason}")


def held_refusal(held: Held, verdict: Verdict) -> tuple[Err, str, str | None] | None:
    """How a held statement that may not run is refused and recorded: (its ERR, the outcome,
    the rule); None when it was approved."""
    if held.approved:
        return None
    if held.outcome is HoldOutcome.UNAVAILABLE:
        return Err(1105, "HY000", held.message), "block", STORE_RULE
    if held.outcome is HoldOutcome.DENIED:
        message = f"{held.message} ({held.detail})" if held.detail else held.message
        return Err(1227, "42000", message), "denied", verdict.rule
    if held.outcome is HoldOutcome.EXPIRED:
        return Err(3024, "HY000", held.message), "denied", verdict.rule
    return (
        Err(1317, "70100", f"query execution was interrupted: {held.message}"),
        "denied",
        (verdict.rule),
    )


def not_utf8() -> Err:
    return Err(
        1300, "HY000", "statement text that is not UTF-8 is refused by Airlock (rule protocol/utf8)"
    )


def audit_behind() -> Err:
    return Err(
        1105,
        "HY000",
        "refused: the audit trail is behind (its store is slow or unreachable) and nothing runs "
        "unrecorded (rule audit/backlog); try again shortly",
    )


def unjournaled(problem: str | None) -> Err:
    why = problem or "it is unavailable"
    return Err(
        1105,
        "HY000",
        f"refused: the gateway cannot record statements in its journal ({why}) and nothing "
        "runs unrecorded (rule audit/journal); try again shortly",
    )


def unsupported(what: str) -> Err:
    return Err(1235, "42000", f"{what} is not supported through Airlock")


def unknown_command(command: int) -> Err:
    return Err(1047, "08S01", f"command 0x{command:02x} is not allowed through Airlock")
