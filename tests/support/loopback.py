"""A fake service's HTTP server on a free loopback port, answering from a daemon thread: what
the fakes of Teams (login, Bot Connector) and the OIDC issuer share."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

__all__ = ["Serving"]


class Serving:
    """``server`` (bound to 127.0.0.1, port 0) serving until ``stop``; ``origin`` is its URL."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
