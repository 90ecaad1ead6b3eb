"""Micro-benchmark of the PostgreSQL wire codec: µs per frame, decode and encode.

Run: .venv/bin/python tests/bench/pgwire_bench.py   (not a test; prints a table)
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable

import gateway.postgres.wire as pg
from gateway.postgres.wire import NEED_DATA, BackendTag, ClientParser, ServerParser, encode

ROWS = 1000
ROW5 = pg.DataRow((b"42", b"alice@example.com", None, b"2024-01-01 00:00:00+00", b"t"))
ROW20 = pg.DataRow(tuple(b"value-%d" % i if i % 4 else None for i in range(20)))
RESULT = b"".join(
    [
        encode(pg.RowDescription(tuple(pg.FieldDescription(f"c{i}") for i in range(5)))),
        encode(ROW5) * ROWS,
        encode(pg.CommandComplete(f"SELECT {ROWS}")),
        encode(pg.ReadyForQuery("I")),
    ]
)
FRAMES = ROWS + 3
QUERY = pg.Query("SELECT id, email FROM users WHERE id = 42")
PARSE = pg.Parse("", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", (23,))
BIND = pg.Bind("", "", (1,), ((4242).to_bytes(4, "big"),), (1,))
ERROR = pg.ErrorResponse.build("ERROR", "42501", "denied by bob", detail="review R-42")
INSPECT = frozenset({BackendTag.ROW_DESCRIPTION, BackendTag.ERROR_RESPONSE})


def bench(label: str, per_call: int, fn: Callable[[], object], budget: float = 0.5) -> None:
    """Print the best-of-9 time per item of `fn`, which handles `per_call` items."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - start > budget / 9:
            break
        loops *= 2
    best = min(_timed(fn, loops) for _ in range(9))
    print(f"{label:<46} {best / loops / per_call * 1e6:8.3f} µs")


def _timed(fn: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return time.perf_counter() - start


def frame_all() -> None:
    parser = ServerParser()
    parser.receive_data(RESULT)
    while parser.next_frame() is not NEED_DATA:
        pass


def take_run_all() -> None:
    parser = ServerParser()
    parser.receive_data(RESULT)
    while True:
        parser.take_run(INSPECT)
        if parser.next_frame() is NEED_DATA:
            break


def event_all() -> None:
    parser = ServerParser()
    parser.receive_data(RESULT)
    while parser.next_event() is not NEED_DATA:
        pass


def chunked_frames() -> None:
    parser = ServerParser()
    for start in range(0, len(RESULT), 16384):
        parser.receive_data(RESULT[start : start + 16384])
        while parser.next_frame() is not NEED_DATA:
            pass


def decoder(message: pg.Message, client: bool) -> Callable[[], object]:
    """A callable decoding one pre-framed `message`."""
    parser: ClientParser | ServerParser = ClientParser(startup=False) if client else ServerParser()
    parser.receive_data(encode(message))
    frame = parser.next_frame()
    assert frame is not NEED_DATA
    decode = parser.decode
    return lambda: decode(frame)


def main() -> None:
    print(f"python {sys.version.split()[0]}; result set of {ROWS} 5-column rows")
    unpack = struct.Struct("!i").unpack_from
    calibration = RESULT[:8]
    bench("(calibration: one struct.unpack_from call)", 1, lambda: unpack(calibration, 1))
    bench("frame: next_frame per message", FRAMES, frame_all)
    bench("frame: next_frame, 16 KiB reads", FRAMES, chunked_frames)
    bench("frame: take_run (forward rows as one view)", FRAMES, take_run_all)
    bench("frame+decode: next_event per message", FRAMES, event_all)
    bench("decode DataRow, 5 columns", 1, decoder(ROW5, client=False))
    bench("decode DataRow, 20 columns", 1, decoder(ROW20, client=False))
    bench("decode Query", 1, decoder(QUERY, client=True))
    bench("decode Parse", 1, decoder(PARSE, client=True))
    bench("decode Bind", 1, decoder(BIND, client=True))
    bench("decode ErrorResponse", 1, decoder(ERROR, client=False))
    bench("encode DataRow, 5 columns", 1, lambda: encode(ROW5))
    bench("encode DataRow, 20 columns", 1, lambda: encode(ROW20))
    bench("encode Query", 1, lambda: encode(QUERY))
    bench("encode Bind", 1, lambda: encode(BIND))
    bench("encode ErrorResponse", 1, lambda: encode(ERROR))
    bench("encode ReadyForQuery", 1, lambda: encode(pg.ReadyForQuery("I")))


if __name__ == "__main__":
    main()
