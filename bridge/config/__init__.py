"""The configuration file: reading YAML (`!secret`, `!credential`, `${ENV}`) into one Config.

from bridge.config import load_config, ConfigInvalid, EXIT_CONFIG
config = load_config("config.yaml")      # or ConfigInvalid(problems)

The keys themselves are declared in bridge.settings (and `actions:` in bridge.actions.rules).
"""

from __future__ import annotations

from bridge.config.load import load_config, load_config_text, parse_config
from bridge.config.model import Config
from bridge.settings.problems import EXIT_CONFIG, ConfigInvalid, Problem

__all__ = [
    "EXIT_CONFIG",
    "Config",
    "ConfigInvalid",
    "Problem",
    "load_config",
    "load_config_text",
    "parse_config",
]
