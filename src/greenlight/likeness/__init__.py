"""Likeness scanning: is a registered performer's face or voice in an output?

The lifecycle calls a :class:`LikenessScanner` on every output before review.
A match not covered by the request's consents quarantines the output. Until
the face and voice matchers land, :class:`NoScan` finds nothing.
"""

from greenlight.likeness.scan import LikenessScanner, Match, NoScan, ScanResult

__all__ = ["LikenessScanner", "Match", "NoScan", "ScanResult"]
