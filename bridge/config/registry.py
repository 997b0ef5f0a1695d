"""Top-level sections of the configuration file, as a registry.

The core sections (mqtt, homeassistant, tiktok, streamers, logging, service) are registered by
bridge.config.sections. Another layer adds its own top-level section without editing
bridge.config: create `bridge/<package>/config_section.py` defining

    SECTION = SectionSpec(name="actions", node=Section(...), build=..., rules=...)

It is found automatically (like CLI commands), validated with the same machinery, shown in
docs/configuration.md, redacted in bridge/info, and its built value is `Config.sections[name]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config.problems import Problem
from bridge.config.schema import Node, Section

# (this section's checked value, the whole checked document) -> problems. Runs after every
# key was checked; values that failed are INVALID and must be skipped.
Rules = Callable[[Any, Mapping[str, Any]], Iterable[Problem]]
# (this section's checked value, the whole checked document) -> the object handed to the layer.
Build = Callable[[Any, Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class SectionSpec:
    name: str
    node: Node
    build: Build | None = None
    rules: Rules | None = None


_SECTIONS: dict[str, SectionSpec] = {}
_discovered = False


def register_section(spec: SectionSpec) -> None:
    existing = _SECTIONS.get(spec.name)
    if existing is not None and existing is not spec:
        raise ValueError(f"configuration section {spec.name!r} is registered twice")
    _SECTIONS[spec.name] = spec


def sections() -> tuple[SectionSpec, ...]:
    """Core sections first (file order), then discovered ones by name."""
    _discover()
    return tuple(_SECTIONS.values())


def root_node() -> Section:
    return Section(
        doc="The configuration file.",
        children={spec.name: spec.node for spec in sections()},
        hints=ROOT_HINTS,
    )


ROOT_HINTS: Mapping[str, str] = {
    "advanced": "its settings live in `service`, `logging` and `mqtt`",
    "streamer": "did you mean 'streamers' (a list)?",
}


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    importlib.import_module("bridge.config.sections")  # registers the core sections
    package_root = Path(__file__).resolve().parents[1]
    # Look for the file instead of importing every package: importing bridge.mqtt or
    # bridge.tiktok would pull in network libraries just to read a YAML file.
    for candidate in sorted(package_root.glob("*/config_section.py")):
        module = importlib.import_module(f"bridge.{candidate.parent.name}.config_section")
        spec = getattr(module, "SECTION", None)
        if isinstance(spec, SectionSpec):
            register_section(spec)
