"""Whatever the document, loading ends in a Config or ConfigInvalid, never another exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import Config, ConfigInvalid, load_config_text, parse_config
from bridge.config.model import ROOT
from bridge.settings.schema import walk

KEYS = sorted({part.removesuffix("[]") for path, _ in walk(ROOT) for part in path.split(".")})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["mqtt://b", "mqtts://b:99999", "socks5://u:p@h", "alice", "@X", "info", "${X}"]
    ),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(), st.none())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)
sections = st.dictionaries(
    st.sampled_from(["mqtt", "tiktok", "streamers", "homeassistant", "logging", "service", "x"]),
    documents,
    max_size=6,
)


def _outcome(run: Any) -> None:
    try:
        result = run()
    except ConfigInvalid as exc:
        assert exc.problems, "ConfigInvalid must carry at least one problem"
        assert all(isinstance(p.message, str) and p.message for p in exc.problems)
    else:
        assert isinstance(result, Config)
        assert isinstance(result.redacted_dict(), dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents, sections))
def test_random_documents(data: Any) -> None:
    _outcome(lambda: parse_config(data, base_dir=Path("/nonexistent"), env={}))


yaml_chars = st.sampled_from(
    [*"abc:-[]{}!&*#'\"\n  ,?|>%@`$\t\\", "!secret ", "${", "mqtt", "streamers", "\x00", "é"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(yaml_chars, max_size=60).map("".join))
def test_random_yaml_text(text: str) -> None:
    _outcome(lambda: load_config_text(text, base_dir=Path("/nonexistent"), env={}))
