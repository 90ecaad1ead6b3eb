"""The MCP server's errors: what a tool call is refused with, in the agent's words.

::

    McpError                    anything the MCP server raises itself
     ├── CallRefused            the call may not go on: ``code`` says why (the tool's answer
     │                          carries it with the message; the audit records it)
     └── RunnerFailed           a connection's runner could not run the statement (the upstream
                                is unreachable, refused the gateway's credential, went away)

A tool turns them into a result with ``"status"`` and ``"error"``; the SDK's own ToolError is
raised only for a call whose arguments are wrong.
"""

from __future__ import annotations

__all__ = ["CallRefused", "McpError", "RunnerFailed"]


class McpError(Exception):
    """Base of the MCP server's errors."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.message, self.code = message, code


class CallRefused(McpError):
    """The call is refused: no access, a limit, the store cannot record it, a bad argument."""


class RunnerFailed(McpError):
    """The statement could not be run upstream (``code``: the protocol's error code)."""
