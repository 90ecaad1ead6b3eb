"""Sans-IO upstream authentication with a credential the gateway holds.

PostgreSQL docs 55.2.1 "Start-up", 55.3 "SASL Authentication", 55.7 "AuthenticationMD5Password".
`UpstreamAuth` is fed the backend messages that follow our StartupMessage and returns the
frontend message to send, if any. Its states and their one transition table:

    START ──AuthenticationOk────────────────────────────────────────────────▶ DONE   ("none")
    START ──AuthenticationCleartextPassword / MD5Password──▶ PASSWORD_SENT ──Ok──▶ DONE
    START ──AuthenticationSASL──▶ SASL_INITIAL_SENT ──SASLContinue──▶ SASL_RESPONSE_SENT
          ──SASLFinal (server signature verified)──▶ SASL_VERIFIED ──Ok──▶ DONE

Rules: a method not in `methods` raises UnsupportedAuthMethod (like libpq's require_auth; the
default refuses cleartext, which would hand the held password to whoever answers). ErrorResponse
raises AuthRejected with the server's SQLSTATE. NoticeResponse is ignored. Any other message, or
a known one out of order (e.g. AuthenticationOk before SCRAM's server signature was checked),
raises AuthProtocolViolation. After any error the object is FAILED and refuses further input.

Use, after sending StartupMessage and until `done`::

    auth = UpstreamAuth(user, held_password)
    while not auth.done:
        reply = auth.handle(next backend message)    # raises UpstreamAuthError
        if reply is not None:
            write(encode(reply))

SCRAM-SHA-256 is scramp's ScramClient without channel binding (the -PLUS variants are never
chosen). scramp requires the server's iteration count to be >= 4096 (PostgreSQL's default).
"""

from __future__ import annotations

import hashlib
from enum import Enum, auto
from typing import Any, Final, Literal

from scramp import ScramClient, ScramException

from gateway.postgres.wire import backend as b
from gateway.postgres.wire.errors import (
    AuthProtocolViolation,
    AuthRejected,
    ServerVerificationFailed,
    UnsupportedAuthMethod,
    UpstreamAuthError,
)
from gateway.postgres.wire.frontend import PasswordMessage, SASLInitialResponse, SASLResponse
from gateway.postgres.wire.messages import BackendMessage

__all__ = [
    "DEFAULT_AUTH_METHODS",
    "SCRAM_SHA_256",
    "AuthMethod",
    "AuthReply",
    "AuthState",
    "UpstreamAuth",
    "md5_password",
]

AuthMethod = Literal["none", "password", "md5", "scram-sha-256"]
AuthReply = PasswordMessage | SASLInitialResponse | SASLResponse
DEFAULT_AUTH_METHODS: Final[frozenset[AuthMethod]] = frozenset({"none", "md5", "scram-sha-256"})
SCRAM_SHA_256: Final = "SCRAM-SHA-256"


def md5_password(user: str, password: str, salt: bytes) -> str:
    """The PasswordMessage text for AuthenticationMD5Password:
    "md5" + md5(md5(password + user) + salt), hex digests, strings UTF-8."""
    inner = hashlib.md5((password + user).encode(), usedforsecurity=False).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt, usedforsecurity=False).hexdigest()


class AuthState(Enum):
    """Where the upstream login stands."""

    START = auto()
    PASSWORD_SENT = auto()
    SASL_INITIAL_SENT = auto()
    SASL_RESPONSE_SENT = auto()
    SASL_VERIFIED = auto()
    DONE = auto()
    FAILED = auto()


S = AuthState
TRANSITIONS: Final[dict[AuthState, dict[type, AuthState]]] = {
    S.START: {
        b.AuthenticationOk: S.DONE,
        b.AuthenticationCleartextPassword: S.PASSWORD_SENT,
        b.AuthenticationMD5Password: S.PASSWORD_SENT,
        b.AuthenticationSASL: S.SASL_INITIAL_SENT,
    },
    S.PASSWORD_SENT: {b.AuthenticationOk: S.DONE},
    S.SASL_INITIAL_SENT: {b.AuthenticationSASLContinue: S.SASL_RESPONSE_SENT},
    S.SASL_RESPONSE_SENT: {b.AuthenticationSASLFinal: S.SASL_VERIFIED},
    S.SASL_VERIFIED: {b.AuthenticationOk: S.DONE},
    S.DONE: {},
    S.FAILED: {},
}


class UpstreamAuth:
    """Log in to the upstream server as `user` with `password`; see the module docstring."""

    def __init__(
        self,
        user: str,
        password: str,
        *,
        methods: frozenset[AuthMethod] = DEFAULT_AUTH_METHODS,
        scram_nonce: str | None = None,
    ) -> None:
        """`scram_nonce` fixes the SCRAM client nonce (tests only; random by default)."""
        self._user = user
        self._password = password
        self._methods = methods
        self._nonce = scram_nonce
        self._scram: Any = None
        self._state = AuthState.START
        self.method: AuthMethod | None = None

    @property
    def state(self) -> AuthState:
        """The current state."""
        return self._state

    @property
    def done(self) -> bool:
        """True once AuthenticationOk was accepted."""
        return self._state is AuthState.DONE

    def handle(self, message: BackendMessage) -> AuthReply | None:
        """Feed one backend message; return the message to send upstream, if any."""
        if isinstance(message, b.NoticeResponse) and self._state is not AuthState.FAILED:
            return None
        try:
            return self._step(message)
        except UpstreamAuthError:
            self._state = AuthState.FAILED
            raise

    def _step(self, message: BackendMessage) -> AuthReply | None:
        if isinstance(message, b.ErrorResponse) and self._state not in (S.DONE, S.FAILED):
            code = message.sqlstate or "08004"
            raise AuthRejected(f"upstream refused login: {message.message}", sqlstate=code)
        if isinstance(message, b.AuthenticationUnsupported) and self._state is S.START:
            raise UnsupportedAuthMethod(f"upstream asked for authentication code {message.code}")
        following = TRANSITIONS[self._state].get(type(message))
        if following is None:
            name = type(message).__name__
            raise AuthProtocolViolation(f"{name} is not expected in state {self._state.name}")
        reply = self._reply(message)
        self._state = following
        return reply

    def _reply(self, message: BackendMessage) -> AuthReply | None:
        if isinstance(message, b.AuthenticationOk):
            if self._state is S.START:
                self._allow("none")
            return None
        if isinstance(message, b.AuthenticationCleartextPassword):
            self._allow("password")
            return PasswordMessage(self._password)
        if isinstance(message, b.AuthenticationMD5Password):
            self._allow("md5")
            return PasswordMessage(md5_password(self._user, self._password, message.salt))
        if isinstance(message, b.AuthenticationSASL):
            return self._scram_start(message.mechanisms)
        if isinstance(message, b.AuthenticationSASLContinue):
            return self._scram_continue(message.data)
        if isinstance(message, b.AuthenticationSASLFinal):
            self._scram_finish(message.data)
            return None
        raise AuthProtocolViolation(f"unexpected {type(message).__name__}")  # pragma: no cover

    def _allow(self, method: AuthMethod) -> None:
        if method not in self._methods:
            raise UnsupportedAuthMethod(f"upstream asked for {method!r}, which is not allowed")
        self.method = method

    def _scram_start(self, mechanisms: tuple[str, ...]) -> SASLInitialResponse:
        self._allow("scram-sha-256")
        if SCRAM_SHA_256 not in mechanisms:
            raise UnsupportedAuthMethod(f"upstream offers SASL {list(mechanisms)}, not SCRAM")
        try:
            self._scram = ScramClient(
                [SCRAM_SHA_256], self._user, self._password, c_nonce=self._nonce
            )
            first: str = self._scram.get_client_first()
        except ScramException as exc:
            raise UpstreamAuthError(f"cannot start SCRAM with the held credential: {exc}") from exc
        return SASLInitialResponse(SCRAM_SHA_256, first.encode())

    def _scram_continue(self, data: bytes) -> SASLResponse:
        try:
            self._scram.set_server_first(data.decode())
            final: str = self._scram.get_client_final()
        except (ScramException, UnicodeDecodeError) as exc:
            raise ServerVerificationFailed(f"bad SCRAM server-first-message: {exc}") from exc
        return SASLResponse(final.encode())

    def _scram_finish(self, data: bytes) -> None:
        try:
            self._scram.set_server_final(data.decode())
        except (ScramException, UnicodeDecodeError) as exc:
            raise ServerVerificationFailed(f"bad SCRAM server-final-message: {exc}") from exc
