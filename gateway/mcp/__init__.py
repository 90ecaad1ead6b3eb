"""The MCP server for agents (``/mcp`` on the API port; docs/agents.md): five tools whose
statements take the same classify -> hold -> run -> mask -> record path as a database
listener's, on the session core (edge ``mcp``). It imports no protocol package: each connection
type plugs in a :class:`Runner` (gateway.postgres.agent today), wired by the composition root.
"""

from gateway.mcp.answers import MAX_BYTES, MAX_ROWS
from gateway.mcp.calls import MAX_WAIT_S, VIA, Agents, QueryCall
from gateway.mcp.errors import CallRefused, McpError, RunnerFailed
from gateway.mcp.ports import Opened, Result, Runner
from gateway.mcp.server import McpApp, build_server
from gateway.mcp.tickets import encode_params, ticket_of
from gateway.mcp.tools import Tools

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "MAX_WAIT_S",
    "VIA",
    "Agents",
    "CallRefused",
    "McpApp",
    "McpError",
    "Opened",
    "QueryCall",
    "Result",
    "Runner",
    "RunnerFailed",
    "Tools",
    "build_server",
    "encode_params",
    "ticket_of",
]
