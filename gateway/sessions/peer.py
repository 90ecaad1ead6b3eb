"""Where a client connects from, as every listener's TLS rule reads it: plaintext is accepted
from this host only, unless ``[listeners] allow_plaintext`` says otherwise."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(peer: object) -> bool:
    """Whether a peer address (``writer.get_extra_info("peername")``) is this host."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host))
    except ValueError:
        return isinstance(host, str) and host == ""  # a Unix socket has no address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack listener
    return address.is_loopback
