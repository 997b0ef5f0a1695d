"""YAML configuration: loading (`!secret`, `!credential`, `${ENV}`), validation, settings.

from bridge.config import load_config, ConfigInvalid, EXIT_CONFIG
config = load_config("config.yaml")      # or ConfigInvalid(problems)
"""

from __future__ import annotations

from bridge.config.load import load_config, load_config_text, parse_config
from bridge.config.model import Config
from bridge.config.problems import EXIT_CONFIG, ConfigInvalid, Problem
from bridge.config.registry import SectionSpec, register_section

__all__ = [
    "EXIT_CONFIG",
    "Config",
    "ConfigInvalid",
    "Problem",
    "SectionSpec",
    "load_config",
    "load_config_text",
    "parse_config",
    "register_section",
]
