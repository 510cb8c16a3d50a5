"""Real media, a real studio identity and real governance facts for provenance tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenlight.core import Settings
from greenlight.provenance import (
    CredentialFacts,
    Governance,
    SigningIdentity,
    init_identity,
)
from tests.media import generated_facts, sample_governance


@pytest.fixture
def studio(tmp_path: Path) -> Settings:
    """A fresh Greenlight data directory."""
    return Settings(data_dir=tmp_path / "data", database_url="sqlite://")


@pytest.fixture
def identity(studio: Settings) -> SigningIdentity:
    """The studio's signing identity, made by `keys init`."""
    init_identity(studio, organization="Lighthouse Pictures")
    return SigningIdentity.load(studio)


@pytest.fixture
def governance() -> Governance:
    """Governance facts of one approved request."""
    return sample_governance()


@pytest.fixture
def generated(governance: Governance) -> CredentialFacts:
    """Facts for an output made from nothing by a model."""
    return generated_facts(governance)
