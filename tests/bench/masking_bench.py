"""Microbenchmark of DataRow masking: µs per row for typical rows under several plans.

Run: .venv/bin/python tests/bench/masking_bench.py [rows]

Times are the best of several runs in CPU time of this process, so load from other processes on
the machine inflates them less than wall-clock time would.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from gateway.masking import MaskTally
from gateway.postgres.dialect import ColumnDescription, MaskingPolicy, RowPlan, encode_datarow

# RowDescription of a typical "customers" query: id, name, email, created_at, active, balance,
# city, notes, visits (int8, text, varchar, timestamptz, bool, numeric, text, text, int4), all
# from table OID 16400 so the catalog resolves them.
COLUMNS = [
    ColumnDescription("id", 16400, 1, 20),
    ColumnDescription("name", 16400, 2, 25),
    ColumnDescription("email", 16400, 3, 1043),
    ColumnDescription("created_at", 16400, 4, 1184),
    ColumnDescription("active", 16400, 5, 16),
    ColumnDescription("balance", 16400, 6, 1700),
    ColumnDescription("city", 16400, 7, 25),
    ColumnDescription("notes", 16400, 8, 25),
    ColumnDescription("visits", 16400, 9, 23),
]
NAMES = {(16400, c.column_attr): ("public.customers", c.name) for c in COLUMNS}
FOUR = ["credit_card", "ssn", "email", "phone"]
SEVEN = ["credit_card", "ssn", "email", "iban", "phone", "aws_access_key", "jwt"]


def _row(i: int, *, email: bool = True) -> bytes:
    notes = b"called about invoice 2023-11-04, all fine" if i % 4 else None
    values: list[bytes | None] = [
        str(100000 + i).encode(),
        b"Alice Example",
        f"user{i}@example.com".encode() if email else b"(none given)",
        b"2024-05-01 12:34:56.789+00",
        b"t",
        b"1234.50",
        b"Springfield",
        notes,
        b"17",
    ]
    return encode_datarow(values)[5:]


def _best(run: Callable[[], object], count: int, repeat: int = 15) -> float:
    """Best µs per item over ``repeat`` runs of ``run`` (which handles ``count`` items)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time_ns()
        run()
        best = min(best, (time.process_time_ns() - start) / count / 1000)
    return best


def _rows(plan: RowPlan, bodies: list[bytes]) -> float:
    rewrite = plan.rewrite_datarow
    tally = MaskTally()

    def run() -> None:
        for body in bodies:
            rewrite(body, tally)

    return _best(run, len(bodies))


def main() -> None:
    """Print µs/row for a noop plan, a one-column-rule plan and detector plans."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    bodies = [_row(i) for i in range(rows)]
    clean = [_row(i, email=False) for i in range(rows)]
    noop = MaskingPolicy(columns=["ssn"]).plan(COLUMNS, NAMES)
    assert noop.is_noop

    def skip() -> None:
        for _ in bodies:
            if not noop.is_noop:
                raise AssertionError

    results = [
        ("noop plan, is_noop check only", _best(skip, rows)),
        ("noop plan, rewrite_datarow (validate only)", _rows(noop, bodies)),
        (
            "1-column rule (customers.email)",
            _rows(MaskingPolicy(columns=["customers.email"]).plan(COLUMNS, NAMES), bodies),
        ),
        (
            "4 detectors, an e-mail in every row",
            _rows(MaskingPolicy(detectors=FOUR).plan(COLUMNS, NAMES), bodies),
        ),
        (
            "4 detectors, rows without entities",
            _rows(MaskingPolicy(detectors=FOUR).plan(COLUMNS, NAMES), clean),
        ),
        (
            "7 detectors, an e-mail in every row",
            _rows(MaskingPolicy(detectors=SEVEN).plan(COLUMNS, NAMES), bodies),
        ),
        (
            "7 detectors, rows without entities",
            _rows(MaskingPolicy(detectors=SEVEN).plan(COLUMNS, NAMES), clean),
        ),
    ]
    for label, micros in results:
        print(f"{label:45s} {micros:6.2f} µs/row")
    policy = MaskingPolicy(columns=["customers.email"], detectors=SEVEN)
    cached = _best(lambda: policy.plan(COLUMNS, NAMES), 1, 200)

    def cold() -> None:
        MaskingPolicy(columns=["customers.email"], detectors=SEVEN).plan(COLUMNS, NAMES)

    print(f"{'plan(), cached RowDescription':45s} {cached:6.2f} µs")
    print(f"{'plan(), new policy and RowDescription':45s} {_best(cold, 1, 50):6.2f} µs")


if __name__ == "__main__":
    main()
