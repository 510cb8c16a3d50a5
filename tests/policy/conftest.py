"""The shipped Cedar rules, loaded once for the policy tests."""

from __future__ import annotations

import pytest

from greenlight.policy.cedar_engine import CedarPolicy


@pytest.fixture(scope="session")
def policy() -> CedarPolicy:
    """The rules Greenlight ships, validated as at start-up."""
    return CedarPolicy.load()
