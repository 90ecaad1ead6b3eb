"""Result masking in every dialect: detectors, masks, the checks behind them, and the rules.

Pure code, no I/O, no protocol. ``MaskingRules`` validates a connection's ``masking = {
columns = [...], detectors = [...] }``; a dialect builds its masking policy from it
(``Dialect.masking``: PostgreSQL's binds rules to RowDescription columns and rewrites DataRow
messages). Detectors (``DETECTORS``) find entities in text and mask them (``mask_text``,
``mask_value``; ``Scanner`` and the shared column actions in ``scan`` work on bytes);
``MaskTally`` and ``MaskCounts`` say what was masked.
"""

from gateway.masking.counts import NO_MASKS, DiscardTally, MaskCounts, MaskTally
from gateway.masking.detectors import (
    DETECTORS,
    Detector,
    Finding,
    mask_text,
    mask_value,
    name_tokens,
)
from gateway.masking.errors import (
    InvalidColumnSpecError,
    MaskingConfigError,
    MaskingError,
    MaskingInputError,
    UnknownDetectorError,
)
from gateway.masking.rules import ColumnRule, MaskingRules
from gateway.masking.scan import Action, Scanner

__all__ = [
    "DETECTORS",
    "NO_MASKS",
    "Action",
    "ColumnRule",
    "Detector",
    "DiscardTally",
    "Finding",
    "InvalidColumnSpecError",
    "MaskCounts",
    "MaskTally",
    "MaskingConfigError",
    "MaskingError",
    "MaskingInputError",
    "MaskingRules",
    "Scanner",
    "UnknownDetectorError",
    "mask_text",
    "mask_value",
    "name_tokens",
]
