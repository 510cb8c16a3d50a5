"""Whose likenesses are looked for is an installation setting."""

from __future__ import annotations

from pathlib import Path

from greenlight.core.settings import Settings
from greenlight.engine.platform import Platform
from tests.expect import refused


def test_a_studio_wide_scan_is_chosen_by_setting(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"GREENLIGHT_DATA_DIR": str(tmp_path), "GREENLIGHT_LIKENESS_SCOPE": "studio"}
    )
    platform = Platform.open(settings)
    try:
        assert "scope=studio" in platform.scanner.name
    finally:
        platform.close()


def test_the_production_is_the_default_scope(tmp_path: Path) -> None:
    platform = Platform.open(Settings.from_env({"GREENLIGHT_DATA_DIR": str(tmp_path)}))
    try:
        assert "scope=production" in platform.scanner.name
    finally:
        platform.close()


def test_an_unknown_scope_is_refused(tmp_path: Path) -> None:
    with refused("settings.bad_value"):
        Settings.from_env(
            {"GREENLIGHT_DATA_DIR": str(tmp_path), "GREENLIGHT_LIKENESS_SCOPE": "everyone"}
        )
