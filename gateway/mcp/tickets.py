"""A held MCP statement's single-use approval ticket: the SHA-256 of the exact request.

The ticket binds the approval to everything that makes the request what it is: the statement's
exact bytes and bound values (:func:`gateway.sessions.hold.held_sha256`, the hash a listener's
review binds to), the connection, and the caller's whole chain (subject first, then every
agent). The identical re-send computes the same ticket and redeems the approval once
(``ApprovalService.redeem_approval``, one store transaction); a changed text, other values,
another connection or another chain compute another ticket, so they need a review of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from approvals import Identity
from gateway.mcp.errors import CallRefused
from gateway.sessions.hold import held_sha256

__all__ = ["MAX_PARAMS", "Param", "encode_params", "ticket_of"]

MAX_PARAMS = 1000
Param = str | int | float | bool | None
_DOMAIN = b"airlock-mcp-ticket/1"  # a different use of SHA-256 never gives the same bytes


def encode_params(params: Sequence[Param] | None) -> tuple[bytes | None, ...]:
    """The values as the statement binds them, in text format: a string as its UTF-8 bytes,
    a number as its decimal text, a boolean as ``true``/``false``, None as NULL. Anything else
    (a list, an object) is refused: the caller passes it as JSON text."""
    if params is None:
        return ()
    if len(params) > MAX_PARAMS:
        raise CallRefused(f"at most {MAX_PARAMS} parameters", "invalid_params")
    encoded: list[bytes | None] = []
    for index, value in enumerate(params, 1):
        if value is None:
            encoded.append(None)
        elif isinstance(value, bool):
            encoded.append(b"true" if value else b"false")
        elif isinstance(value, int | float):
            encoded.append(json.dumps(value).encode())
        elif isinstance(value, str):
            encoded.append(value.encode("utf-8", "surrogateescape"))
        else:
            raise CallRefused(
                f"parameter ${index} is a {type(value).__name__}: pass a string, a number, a "
                "boolean or null (JSON as a string)",
                "invalid_params",
            )
    return tuple(encoded)


def ticket_of(
    identity: Identity, connection: str, text: str, params: Sequence[bytes | None]
) -> str:
    """The hex SHA-256 the approval of this exact request binds to: each part length-prefixed
    (so no two different requests give the same bytes)."""
    digest = hashlib.sha256(_DOMAIN)
    for part in (connection, *identity.chain, held_sha256(text, params)):
        data = part.encode("utf-8", "surrogateescape")
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    digest.update(len(identity.chain).to_bytes(4, "big"))
    return digest.hexdigest()
