"""Packets over an asyncio stream: the thin I/O around the sans-IO packet codec.

A ``PacketStream`` reads whole logical packets (``gateway.mysql.wire.PacketReader``) and writes
payloads with the exchange's next sequence id. One counter serves both directions, as the
protocol numbers an exchange's packets whichever side sends them ("MySQL Packets", "Sequence
ID"); a command resets it to 0."""

from __future__ import annotations

import asyncio

from gateway.mysql import wire as my

__all__ = ["READ_SIZE", "PacketStream"]

READ_SIZE = 65536
DRAIN_ABOVE = 1024 * 1024  # a reply's output is drained once this much is buffered


class PacketStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.packets = my.PacketReader()
        self.seq = 0  # the sequence id the next packet, sent or received, carries

    async def read(self, *, check: bool = True) -> my.Packet | None:
        """The next whole packet (None: the peer closed the connection); OutOfSequence when
        its sequence id is not the exchange's next (``check``)."""
        packet = self.packets.next_packet()
        while isinstance(packet, my.NeedData):
            data = await self.reader.read(READ_SIZE)
            if not data:
                return None
            self.packets.receive_data(data)
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

    def write(self, payload: bytes) -> None:
        """Queue ``payload`` as the exchange's next packet(s)."""
        self.writer.write(my.encode_packet(payload, self.seq))
        self.seq = (self.seq + my.packet_count(len(payload))) % 256

    async def drain_if_full(self) -> None:
        transport = self.writer.transport
        if transport.get_write_buffer_size() > DRAIN_ABOVE:
            await self.writer.drain()

    def buffered(self) -> bool:
        """Bytes received and not handed out (in the codec or the stream's own buffer)."""
        return bool(self.packets.pending_bytes() or getattr(self.reader, "_buffer", b""))
