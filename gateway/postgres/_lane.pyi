"""Types of the compiled fast lane (gateway/postgres/_lane.c; see gateway.postgres.fastlane)."""

from collections.abc import Callable
from typing import Any

def literal_shape_utf8(data: bytes, /) -> bytes | None: ...
def reader_empty(parser: Any, /) -> bool: ...

class Core:
    inflight: int
    taken: int
    spilled: int
    def __init__(
        self,
        *,
        relay: Any,
        shared: Any,
        client: Any,
        server: Any,
        audit: Any,
        to_server: Callable[[bytes], object],
        to_client: Callable[[bytes], object],
        client_general: Callable[[bytes], None],
        server_general: Callable[[bytes], None],
        learn: Callable[[str], tuple[tuple[str, str | None] | None, bool]],
        drained: Callable[[list[list[Any]], int, Any, int], None],
        schedule: Callable[[], None],
        masks: bool,
    ) -> None: ...
    def client_received(self, data: bytes, /) -> None: ...
    def server_received(self, data: bytes, /) -> None: ...
    def spill(self) -> None: ...
    def drain(self) -> None: ...
