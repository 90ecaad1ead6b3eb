"""Microbenchmark of the MySQL literal shape the fast lane computes for every COM_QUERY: µs per
call of the regex scan (``regex_plain_shape``, the reference) and of ``plain_shape``, which runs
the compiled scan (gateway/mysql/_shape.c) on the text's UTF-8 and decodes its answer; ``C
alone`` is the compiled call on bytes already encoded; ``general_shape`` is what the lane calls
(the checks of ``_generalisable``, then ``plain_shape``). Each figure is the fastest of 7 runs.

Run: .venv/bin/python tests/bench/shape_bench.py [calls per run]
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from functools import partial

from gateway.mysql import _shape
from gateway.mysql.dialect import MySQLState
from gateway.mysql.dialect.guardrails import general_shape, plain_shape, regex_plain_shape

# sysbench oltp_read_only / oltp_point_select texts, and a longer INSERT
TEXTS = {
    "point select": "SELECT c FROM sbtest1 WHERE id=5023",
    "simple range": "SELECT c FROM sbtest1 WHERE id BETWEEN 4981 AND 5080",
    "sum range": "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 4981 AND 5080",
    "distinct range": ("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 4981 AND 5080 ORDER BY c"),
    "insert": (
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5023, 4991, "
        "'83868641912-28773972837-60736120486-75162659906-27563526494-20381887404-41576422241-"
        "93426793964-56405065102-33518432330', "
        "'67847967377-48000963322-62604785301-91415491898-96926520291')"
    ),
}


def _us(call: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def main(number: int) -> None:
    state = MySQLState()
    print(
        f"{'text':16} {'regex':>8} {'plain_shape':>12} {'C alone':>8} {'general_shape':>14}"
        "  (µs per call)"
    )
    for name, text in TEXTS.items():
        data = text.encode()
        assert plain_shape(text) == regex_plain_shape(text) is not None
        regex = _us(partial(regex_plain_shape, text), number)
        plain = _us(partial(plain_shape, text), number)
        alone = _us(partial(_shape.plain_shape_utf8, data), number)
        general = _us(partial(general_shape, text, state), number)
        print(
            f"{name:16} {regex:8.2f} {plain:12.2f} {alone:8.2f} {general:14.2f}"
            f"  (regex / plain_shape: {regex / plain:.0f}x)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
