"""Builders shared by the PostgreSQL masking tests: DataRow bodies and binary values."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from gateway.postgres.dialect import encode_datarow


def body(values: Sequence[bytes | None]) -> bytes:
    """A DataRow body (no type byte, no length) for ``values``."""
    return encode_datarow(values)[5:]


def int8(n: int) -> bytes:
    """Binary int8."""
    return struct.pack("!q", n)
