"""The ``ssh`` dialect: shell command lines in the guardrails' vocabulary.

``SHELL`` is what the composition root maps connections of ``type = "ssh"`` to. It classifies
with :func:`gateway.ssh.shell.classify_shell`, judges with the ``default`` kinds' actions and
the connection's ``[[connections.rules]]`` (``function`` patterns match program names,
``regex`` the command's text; ``table`` matches nothing in a shell), masks nothing (terminal
output has no columns to bind rules to), and redacts secrets a command line may carry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.guardrails import REDACTED, Classification, Redacted, Rule, RuleSet
from gateway.masking import MaskingRules
from gateway.ssh.shell import ShellState, classify_shell

__all__ = ["SHELL", "ShellDialect", "redact_shell"]

# Secrets on a command line: NAME=value where the name says secret, --password=x / --token x,
# mysql's -pSECRET, sshpass -p x, URL user:password@, Authorization headers.
_SECRET_NAME = r"[A-Za-z_]*(?:PASS|PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY)[A-Za-z_0-9]*"  # noqa: S105
_PATTERNS = (
    re.compile(rf"(?i)(\b{_SECRET_NAME}=)('[^']*'|\"[^\"]*\"|\S+)"),
    re.compile(
        r"(?i)(--(?:password|passwd|token|secret|api-key)(?:=|\s+))('[^']*'|\"[^\"]*\"|\S+)"
    ),
    re.compile(r"(\s-p)(?!\s)(\S+)"),
    re.compile(r"(\bsshpass\s+-p\s*)(\S+)"),
    re.compile(r"(://[^/\s:@]+:)([^@\s/]+)(?=@)"),
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)?\s*)([^'\"\s]+)"),
    re.compile(r"(?i)(\s-u\s+[^:\s]+:)(\S+)"),
)
_MAYBE = re.compile(r"(?i)pass|secret|token|key|-p|://|auth|-u")


def redact_shell(text: str, params: Sequence[bytes | None] = ()) -> Redacted:
    """``text`` with every secret it may carry replaced; cheap when it cannot hold one."""
    if _MAYBE.search(text) is None:
        return Redacted(text, tuple(params))
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return Redacted(text, tuple(params))


class ShellDialect:
    """The ssh connection type's dialect (``gateway.guardrails.Dialect``)."""

    name = "ssh"
    state_type = ShellState

    def classify(self, text: str, state: ShellState) -> Classification:
        return classify_shell(text, state)

    def guardrails(self, rules: Sequence[Rule]) -> RuleSet[ShellState]:
        return RuleSet(classify_shell, rules)

    def masking(self, rules: MaskingRules) -> None:
        """Shell output is not masked (docs/ssh.md): no rule can bind to it."""
        return None

    def redact(self, text: str, params: Sequence[bytes | None] = ()) -> Redacted:
        return redact_shell(text, params)


SHELL = ShellDialect()
