"""Upstream authentication: md5 known answer, SCRAM-SHA-256 end to end, failures.

SCRAM runs against scramp's ScramServer, not the local PostgreSQL: its pg_hba.conf trusts
127.0.0.1, so a real server here never asks for a password.
"""

from __future__ import annotations

import base64

import pytest
from scramp import ScramException, ScramMechanism

import gateway.postgres.wire as pg
from gateway.postgres.wire import (
    NEED_DATA,
    AuthProtocolViolation,
    AuthRejected,
    AuthState,
    ClientParser,
    ServerParser,
    ServerVerificationFailed,
    UnsupportedAuthMethod,
    UpstreamAuth,
    encode,
    md5_password,
)

USER, PASSWORD = "app_rw", "correct horse battery staple"


class FakeScramServer:
    """scramp's server side, speaking to UpstreamAuth through the real codec."""

    def __init__(self, password: str) -> None:
        mechanism = ScramMechanism("SCRAM-SHA-256")
        info = mechanism.make_auth_info(password, iteration_count=4096)
        self.scram = mechanism.make_server(lambda _user: info)
        self.server_stream = ServerParser()
        self.client_stream = ClientParser(startup=False)

    def roundtrip(
        self, auth: UpstreamAuth, message: pg.BackendMessage
    ) -> pg.FrontendMessage | None:
        """Send `message` over the wire to auth; return its reply as the server decodes it."""
        self.server_stream.receive_data(encode(message))
        decoded = self.server_stream.next_event()
        assert decoded is not NEED_DATA
        reply = auth.handle(decoded)
        if reply is None:
            return None
        self.client_stream.expect_password_message(type(reply))
        self.client_stream.receive_data(encode(reply))
        received = self.client_stream.next_event()
        assert received == reply
        return reply


def scram_until_final(server: FakeScramServer, auth: UpstreamAuth) -> str:
    """Run SASL up to the server-final-message; return that message."""
    first = server.roundtrip(auth, pg.AuthenticationSASL(("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")))
    assert isinstance(first, pg.SASLInitialResponse)
    assert first.mechanism == "SCRAM-SHA-256" and first.data is not None
    server.scram.set_client_first(first.data.decode())
    final = server.roundtrip(
        auth, pg.AuthenticationSASLContinue(server.scram.get_server_first().encode())
    )
    assert isinstance(final, pg.SASLResponse)
    server.scram.set_client_final(final.data.decode())
    return str(server.scram.get_server_final())


def test_md5_known_answer() -> None:
    """md5 matches PostgreSQL's own md5(md5(password || user) || salt) for a fixed salt."""
    # SELECT 'md5' || md5(convert_to(md5('s3cret' || 'alice'), 'UTF8') || '\x01020304'::bytea)
    assert md5_password("alice", "s3cret", b"\1\2\3\4") == "md5b79948bbeb35dee03ab8fe15a839030b"


def test_md5_login() -> None:
    """AuthenticationMD5Password is answered with the salted hash, then Ok finishes."""
    auth = UpstreamAuth("alice", "s3cret")
    reply = auth.handle(pg.AuthenticationMD5Password(b"\1\2\3\4"))
    assert reply == pg.PasswordMessage("md5b79948bbeb35dee03ab8fe15a839030b")
    assert auth.handle(pg.AuthenticationOk()) is None
    assert auth.done and auth.method == "md5"


def test_scram_end_to_end() -> None:
    """SCRAM-SHA-256 completes against scramp's server, which verifies our proof."""
    server = FakeScramServer(PASSWORD)
    auth = UpstreamAuth(USER, PASSWORD)
    server_final = scram_until_final(server, auth)
    assert server.roundtrip(auth, pg.AuthenticationSASLFinal(server_final.encode())) is None
    assert auth.state is AuthState.SASL_VERIFIED
    assert server.roundtrip(auth, pg.AuthenticationOk()) is None
    assert auth.done and auth.method == "scram-sha-256"


def test_scram_wrong_password_is_refused_by_the_server() -> None:
    """With the wrong held password the server's check of our proof fails."""
    server = FakeScramServer(PASSWORD)
    auth = UpstreamAuth(USER, "wrong")
    with pytest.raises(ScramException):
        scram_until_final(server, auth)


def test_scram_forged_server_signature() -> None:
    """A server-final-message with a wrong signature raises ServerVerificationFailed."""
    server = FakeScramServer(PASSWORD)
    auth = UpstreamAuth(USER, PASSWORD)
    scram_until_final(server, auth)
    forged = "v=" + base64.b64encode(b"\0" * 32).decode()
    with pytest.raises(ServerVerificationFailed) as info:
        auth.handle(pg.AuthenticationSASLFinal(forged.encode()))
    assert info.value.sqlstate == "08006"
    assert auth.state is AuthState.FAILED


def test_scram_server_nonce_must_extend_ours() -> None:
    """A server-first-message that does not extend our nonce is refused."""
    auth = UpstreamAuth(USER, PASSWORD, scram_nonce="clientnonce")
    auth.handle(pg.AuthenticationSASL(("SCRAM-SHA-256",)))
    with pytest.raises(ServerVerificationFailed):
        auth.handle(pg.AuthenticationSASLContinue(b"r=othernonce,s=c2FsdA==,i=4096"))


def test_ok_before_scram_signature_is_a_violation() -> None:
    """AuthenticationOk before the server proved itself is refused, not accepted."""
    server = FakeScramServer(PASSWORD)
    auth = UpstreamAuth(USER, PASSWORD)
    scram_until_final(server, auth)
    with pytest.raises(AuthProtocolViolation):
        auth.handle(pg.AuthenticationOk())


def test_sasl_without_scram_sha_256() -> None:
    """A SASL offer without SCRAM-SHA-256 (e.g. only -PLUS) is unsupported."""
    auth = UpstreamAuth(USER, PASSWORD)
    with pytest.raises(UnsupportedAuthMethod):
        auth.handle(pg.AuthenticationSASL(("SCRAM-SHA-256-PLUS",)))


def test_cleartext_is_refused_by_default() -> None:
    """Cleartext would hand over the held password; it needs an explicit opt-in."""
    with pytest.raises(UnsupportedAuthMethod):
        UpstreamAuth(USER, PASSWORD).handle(pg.AuthenticationCleartextPassword())
    auth = UpstreamAuth(USER, PASSWORD, methods=frozenset({"password"}))
    assert auth.handle(pg.AuthenticationCleartextPassword()) == pg.PasswordMessage(PASSWORD)


def test_trust_can_be_refused() -> None:
    """An upstream that lets us in without a password is refused when "none" is not allowed."""
    auth = UpstreamAuth(USER, PASSWORD, methods=frozenset({"scram-sha-256"}))
    with pytest.raises(UnsupportedAuthMethod):
        auth.handle(pg.AuthenticationOk())
    assert UpstreamAuth(USER, PASSWORD).handle(pg.AuthenticationOk()) is None


def test_gss_is_unsupported() -> None:
    """GSS, SSPI and Kerberos requests raise UnsupportedAuthMethod."""
    with pytest.raises(UnsupportedAuthMethod):
        UpstreamAuth(USER, PASSWORD).handle(pg.AuthenticationUnsupported(7))


def test_error_response_carries_the_server_sqlstate() -> None:
    """An ErrorResponse during login becomes AuthRejected with the server's SQLSTATE."""
    auth = UpstreamAuth(USER, PASSWORD)
    auth.handle(pg.AuthenticationMD5Password(b"salt"))
    with pytest.raises(AuthRejected) as info:
        auth.handle(pg.ErrorResponse.build("FATAL", "28P01", "password authentication failed"))
    assert info.value.sqlstate == "28P01"


def test_error_response_without_sqlstate() -> None:
    """An ErrorResponse with no fields at all still becomes AuthRejected (08004)."""
    with pytest.raises(AuthRejected) as info:
        UpstreamAuth(USER, PASSWORD).handle(pg.ErrorResponse({}))
    assert info.value.sqlstate == "08004"


def test_notice_during_login_is_ignored() -> None:
    """A NoticeResponse during login needs no reply and changes nothing."""
    auth = UpstreamAuth(USER, PASSWORD)
    assert auth.handle(pg.NoticeResponse.build("NOTICE", "00000", "hi")) is None
    assert auth.state is AuthState.START


@pytest.mark.parametrize(
    "message",
    [pg.AuthenticationSASLContinue(b"r=x"), pg.AuthenticationSASLFinal(b"v=x"), pg.DataRow(())],
    ids=["continue", "final", "data-row"],
)
def test_out_of_order_messages(message: pg.BackendMessage) -> None:
    """Messages with no transition from START are AuthProtocolViolation."""
    with pytest.raises(AuthProtocolViolation):
        UpstreamAuth(USER, PASSWORD).handle(message)


def test_failed_login_refuses_further_input() -> None:
    """After an error the state machine is FAILED and accepts nothing."""
    auth = UpstreamAuth(USER, PASSWORD)
    with pytest.raises(UnsupportedAuthMethod):
        auth.handle(pg.AuthenticationUnsupported(9))
    with pytest.raises(AuthProtocolViolation):
        auth.handle(pg.AuthenticationOk())


def test_unusable_scram_password() -> None:
    """A held password that SASLprep refuses (a control character) fails before sending."""
    auth = UpstreamAuth(USER, "bell\x07")
    with pytest.raises(pg.UpstreamAuthError):
        auth.handle(pg.AuthenticationSASL(("SCRAM-SHA-256",)))
    assert auth.state is AuthState.FAILED
