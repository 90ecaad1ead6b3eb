"""Result masking: mask sensitive values in DataRow messages before they reach the client.

Pure code, no I/O. Build a ``MaskingPolicy`` from configuration once; per RowDescription ask it for
a ``RowPlan``; per DataRow call ``plan.rewrite_datarow(body)`` (or ``plan.apply(values)``) unless
``plan.is_noop``.
"""

from gateway.masking.counts import NO_MASKS, MaskCounts, MaskTally
from gateway.masking.datarow import encode_datarow, parse_datarow_body
from gateway.masking.detectors import DETECTORS, Detector, Finding, mask_text, mask_value
from gateway.masking.errors import (
    InvalidColumnDescriptionError,
    InvalidColumnSpecError,
    MalformedDataRowError,
    MaskingConfigError,
    MaskingError,
    MaskingInputError,
    UnknownDetectorError,
)
from gateway.masking.plan import (
    CatalogNames,
    ColumnDescription,
    ColumnRule,
    Derivation,
    MaskingPolicy,
    PlannedColumn,
    RowPlan,
)

__all__ = [
    "DETECTORS",
    "NO_MASKS",
    "CatalogNames",
    "ColumnDescription",
    "ColumnRule",
    "Derivation",
    "Detector",
    "Finding",
    "InvalidColumnDescriptionError",
    "InvalidColumnSpecError",
    "MalformedDataRowError",
    "MaskCounts",
    "MaskTally",
    "MaskingConfigError",
    "MaskingError",
    "MaskingInputError",
    "MaskingPolicy",
    "PlannedColumn",
    "RowPlan",
    "UnknownDetectorError",
    "encode_datarow",
    "mask_text",
    "mask_value",
    "parse_datarow_body",
]
