"""Result masking: detectors, masks and their checks, counts, scanning values for findings.

Pure code, no I/O. PostgreSQL's masking policy and row plans (RowDescription, DataRow) are in
``gateway.postgres.dialect``.
"""

from gateway.masking.counts import NO_MASKS, MaskCounts, MaskTally
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

__all__ = [
    "DETECTORS",
    "NO_MASKS",
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
    "UnknownDetectorError",
    "mask_text",
    "mask_value",
]
