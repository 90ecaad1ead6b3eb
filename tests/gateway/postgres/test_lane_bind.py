"""The lane's Bind check (gateway.postgres.lane._bind_decodes) against the wire codec's decoder: it
accepts every Bind the encoder writes, and nothing the decoder would refuse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.postgres import wire as pg
from gateway.postgres.lane import _bind_decodes

formats = st.lists(st.integers(0, 1), max_size=4).map(tuple)
values = st.lists(st.none() | st.binary(max_size=12), max_size=5).map(tuple)


def _after_name(data: bytes) -> int:
    """Where the body continues after the portal and statement names."""
    return data.index(0, data.index(0, 5) + 1) + 1


def _decodes(data: bytes, end: int) -> bool:
    try:
        pg.ClientParser().decode(pg.Frame(ord("B"), data, 0, end))
    except pg.PgWireError:
        return False
    return True


@given(st.text(max_size=6).filter(lambda n: "\0" not in n), formats, values, formats)
def test_every_encoded_bind_passes(
    name: str,
    param_formats: tuple[int, ...],
    params: tuple[bytes | None, ...],
    result_formats: tuple[int, ...],
) -> None:
    data = pg.encode(pg.Bind("", name, param_formats, params, result_formats))
    assert _bind_decodes(data, _after_name(data), len(data))


@given(formats, values, formats, st.binary(max_size=24), st.integers(0, 40), st.binary(max_size=6))
def test_nothing_the_decoder_refuses_passes(
    param_formats: tuple[int, ...],
    params: tuple[bytes | None, ...],
    result_formats: tuple[int, ...],
    noise: bytes,
    cut: int,
    tail: bytes,
) -> None:
    """Bodies cut, overwritten with noise or followed by other bytes (the next messages of the
    read): whenever the check passes, the decoder reads the message too."""
    data = bytearray(pg.encode(pg.Bind("", "s", param_formats, params, result_formats)))
    start = _after_name(bytes(data))
    data[start + cut : start + cut + len(noise)] = noise
    end = min(len(data), start + cut + len(noise) // 2 + 2)
    raw = bytes(data) + tail
    if _bind_decodes(raw, start, end):
        assert _decodes(raw, end)


def test_a_negative_length_or_an_overrun_fails() -> None:
    data = pg.encode(pg.Bind("", "s", (), (b"abc",), ()))
    start = _after_name(data)
    negative = data[: start + 4] + b"\xff\xff\xff\xfe" + data[start + 8 :]
    assert not _bind_decodes(negative, start, len(negative))
    assert not _bind_decodes(data, start, len(data) - 1)
    assert not _bind_decodes(data + b"\0\0", start, len(data) + 2)
