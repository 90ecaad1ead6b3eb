"""Errors of the SSH listener.

::

    SshError                      a session of the SSH listener cannot go on
    ├── UpstreamError             the upstream host cannot be reached, or refused the
    │   │                         gateway's key (the client is told; nothing of the key is)
    │   └── HostKeyRefused        the upstream's host key is not the configured one
    │                             (unknown or changed): refused and audited
    └── ChannelRefused            a channel the connection does not allow (sftp, forwarding,
                                  agent, X11): refused and audited

asyncssh's and the OS's exceptions become these at the boundary (``raise ... from exc``).
"""

from __future__ import annotations

__all__ = ["ChannelRefused", "HostKeyRefused", "SshError", "UpstreamError"]


class SshError(Exception):
    """Base of the SSH listener's errors; ``message`` is what the client may be told."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamError(SshError):
    """The upstream host cannot be reached or refused the gateway's login."""


class HostKeyRefused(UpstreamError):
    """The upstream's host key is unknown or changed; ``fingerprint`` is the one it showed."""

    def __init__(self, message: str, fingerprint: str | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


class ChannelRefused(SshError):
    """A channel kind the connection does not allow."""
