"""Packets over a socket's channel (gateway.mysql.channel): the thin I/O around the sans-IO
packet codec, and the TLS a client asks for with an SSLRequest.

A ``PacketStream`` reads whole logical packets (``gateway.mysql.wire.PacketReader``) and writes
payloads with the exchange's next sequence id. One counter serves both directions, as the
protocol numbers an exchange's packets whichever side sends them ("MySQL Packets", "Sequence
ID"); a command resets it to 0. What is written is gathered and sent in one go (a reply's five
packets cost one send, not five: the sends were most of the gateway's cost per statement)
before the stream waits for the peer, on ``drain``, or past ``BATCH`` bytes.

The TLS handshake ("Connection Phase", "SSL Handshake") is done here, on memory BIOs, rather
than by the event loop's ``start_tls``: a MySQL client sends its TLS ClientHello right behind
the SSLRequest without waiting for an answer, so the two often arrive in one read. Every byte
after the SSLRequest, already read or not, goes into the TLS layer and nothing else: bytes a
client (or a man in the middle) sent in clear behind the request can only fail the handshake,
never be read as the client's (the CVE-2021-23214 class). After the handshake the channel
carries the TLS (``ByteChannel.secure``: it decrypts as bytes arrive, so that the fast lane
reads the session in clear too)."""

from __future__ import annotations

import ssl

from gateway.mysql import wire as my
from gateway.mysql.channel import READ_SIZE, ByteChannel, TlsLayer

__all__ = ["READ_SIZE", "PacketStream"]

DRAIN_ABOVE = 1024 * 1024  # a reply's output is drained once this much is buffered
BATCH = 64 * 1024  # bytes gathered before they are sent (encrypted, over TLS) in one go


class PacketStream:
    def __init__(self, io: ByteChannel) -> None:
        self.io = io  # the socket's bytes (gateway.mysql.channel)
        self.packets = my.PacketReader()
        self.seq = 0  # the sequence id the next packet, sent or received, carries
        self.encrypted = False  # the channel carries TLS (after ``start_tls``)
        self._plain: list[bytes] = []  # written, not yet sent
        self._plain_size = 0

    # -- reading ---------------------------------------------------------------------------

    async def read(self, *, check: bool = True) -> my.Packet | None:
        """The next whole packet (None: the peer closed the connection); OutOfSequence when
        its sequence id is not the exchange's next (``check``)."""
        packet = self.packets.next_packet()
        while isinstance(packet, my.NeedData):
            if not await self.receive():
                return None
            packet = self.packets.next_packet()
        if check and packet.seq != self.seq:
            raise my.OutOfSequence(f"sequence id {packet.seq}, expected {self.seq}")
        self.seq = packet.next_seq
        return packet

    async def expect(self) -> my.Packet:
        """``read``, where the peer closing is an error."""
        packet = await self.read()
        if packet is None:
            raise ConnectionResetError("the peer closed the connection")
        return packet

    async def receive(self) -> bool:
        """Read more bytes into the packet codec (what was written is sent first: the peer
        may be waiting for it); False when the peer closed the connection."""
        if self._plain:
            self.flush()
        data = await self._recv()
        if not data:
            return False
        self.packets.receive_data(data)
        return True

    async def _recv(self) -> bytes:
        return await self.io.read()

    # -- writing ---------------------------------------------------------------------------

    def write(self, payload: bytes) -> None:
        """Queue ``payload`` as the exchange's next packet(s)."""
        data = my.encode_packet(payload, self.seq)
        self.seq = (self.seq + my.packet_count(len(payload))) % 256
        self._plain.append(data)
        self._plain_size += len(data)
        if self._plain_size >= BATCH:
            self.flush()

    def write_raw(self, data: bytes) -> None:
        """Queue packets already framed (relayed as the peer numbered them: the caller keeps
        ``seq`` in step)."""
        if data:
            self._plain.append(data)
            self._plain_size += len(data)
            if self._plain_size >= BATCH:
                self.flush()

    def flush(self) -> None:
        """Send what was written (to the transport: ``drain`` waits for it to leave)."""
        plain = self._plain
        if plain:
            data = plain[0] if len(plain) == 1 else b"".join(plain)
            plain.clear()
            self._plain_size = 0
            self.io.write(data)  # encrypted by the channel after ``start_tls``

    async def drain(self) -> None:
        """Send what was written, and wait while the transport's buffer is full."""
        self.flush()
        await self.io.drain()

    @property
    def full(self) -> bool:
        """The transport holds more than a long reply should leave waiting for the peer."""
        return self.io.write_buffer_size() > DRAIN_ABOVE

    async def drain_if_full(self) -> None:
        """Wait for the peer to take a long reply's output (the transport's buffer)."""
        if self.full:
            await self.io.drain()

    # -- TLS -------------------------------------------------------------------------------

    async def start_tls(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool = True,
        server_hostname: str | None = None,
    ) -> None:
        """The TLS handshake (the server's side towards a client, the client's towards the
        upstream); every byte received after the SSLRequest (``packets`` may hold the start of
        the ClientHello) is the handshake's. What was written before (the SSLRequest) is sent
        in clear first. The channel carries the TLS from then on (``ByteChannel.secure``)."""
        self.flush()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(
            incoming, outgoing, server_side=server_side, server_hostname=server_hostname
        )
        incoming.write(self.packets.take_pending())
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.io.write(outgoing.read())
                await self.io.drain()
                raw = await self.io.read()
                if not raw:
                    raise ConnectionResetError("the client left during the TLS handshake") from None
                incoming.write(raw)
        self.io.write(outgoing.read())  # the handshake's last flight, in clear
        self.io.secure(TlsLayer(tls, incoming, outgoing))
        self.encrypted = True
        await self.io.drain()
