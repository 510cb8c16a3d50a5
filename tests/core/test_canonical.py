"""Our canonical JSON is byte-identical to the reference RFC 8785 encoder."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlight.core.canonical import CanonicalizationError, canonical_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_canonical_json_matches_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(CanonicalizationError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_keys_sort_by_utf16_code_units_like_rfc8785() -> None:
    # U+1F600 (a surrogate pair in UTF-16) sorts before U+FF5E there, after it in code points.
    value = {"\U0001f600": 1, "\uff5e": 2, "a": 3}
    assert canonical_json(value) == rfc8785.dumps(value)


def test_values_json_cannot_hold_are_refused() -> None:
    for bad in [float("nan"), 2**60, {1: "int key"}, object(), "\ud800"]:
        with pytest.raises(CanonicalizationError):
            canonical_json(bad)
