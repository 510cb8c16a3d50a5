"""Likeness scanning: is a registered performer's face or voice in an output?

The lifecycle calls a :class:`LikenessScanner` on every output before review,
with a :class:`ScanContext`. A match not covered by the request's consents
quarantines the output and becomes a :class:`Finding` for legal. Performers'
templates are made from their references by :func:`enroll` and kept sealed.
"""

from greenlight.likeness.findings import Finding, findings_for, record_findings
from greenlight.likeness.scan import (
    EnrolledTalentScanner,
    LikenessScanner,
    Match,
    NoScan,
    ScanContext,
    ScanResult,
    default_scanner,
)
from greenlight.likeness.templates import (
    Template,
    enroll,
    forget_kept_under,
    list_templates,
    open_templates,
)

__all__ = [
    "EnrolledTalentScanner",
    "Finding",
    "LikenessScanner",
    "Match",
    "NoScan",
    "ScanContext",
    "ScanResult",
    "Template",
    "default_scanner",
    "enroll",
    "findings_for",
    "forget_kept_under",
    "list_templates",
    "open_templates",
    "record_findings",
]
