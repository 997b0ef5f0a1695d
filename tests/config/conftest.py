"""Helpers for configuration tests: write a config (and secrets) into tmp_path and load it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from bridge.config import Config, ConfigInvalid, load_config

Load = Callable[..., Config]


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load(write: Callable[[str, str], Path], tmp_path: Path) -> Load:
    """Load YAML text with an empty environment and no Docker secrets (hermetic)."""

    def _load(text: str, env: Mapping[str, str] | None = None) -> Config:
        path = write(text, "config.yaml")
        return load_config(path, env=env or {}, docker_secrets_dir=tmp_path / "no-docker")

    return _load


@pytest.fixture
def problems(load: Load) -> Callable[..., dict[str, str]]:
    """Load text that must be invalid; returns {path: message} of every problem."""

    def _problems(text: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
        with pytest.raises(ConfigInvalid) as info:
            load(text, env)
        return {p.path: p.message for p in info.value.problems}

    return _problems
