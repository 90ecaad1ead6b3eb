"""Small helpers shared by the codec tests."""

from __future__ import annotations

from gateway.postgres.wire import (
    NEED_DATA,
    CancelRequest,
    ClientParser,
    GSSENCRequest,
    Message,
    SASLInitialResponse,
    SASLResponse,
    ServerParser,
    SSLRequest,
    SSLResponse,
    StartupMessage,
)

from .cases import Case

Parser = ClientParser | ServerParser
STARTUP_TYPES = (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest)


def parser_for(case: Case) -> Parser:
    """A parser in the phase and mode in which the case's message can arrive."""
    message = case.message
    if case.sender == "client":
        parser = ClientParser(startup=isinstance(message, STARTUP_TYPES))
        if isinstance(message, SASLInitialResponse | SASLResponse):
            parser.expect_password_message(type(message))
        return parser
    server = ServerParser()
    if isinstance(message, SSLResponse):
        server.expect_ssl_response()
    return server


def drain(parser: Parser) -> list[Message]:
    """Every whole message the parser can produce now."""
    out: list[Message] = []
    while (event := parser.next_event()) is not NEED_DATA:
        out.append(event)
    return out
