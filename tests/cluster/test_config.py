"""The `cluster:` section: absent means a single instance (no Redis client even imported),
present it is checked like every other section and its password never shows."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.config.load import ConfigInvalid, load_config_text
from bridge.core.app import Bridge
from tests.helpers.paths import REPO

BASE = """\
mqtt:
  server: mqtt://127.0.0.1:1883
homeassistant:
  enabled: false
streamers: [alice]
"""


def _load(extra: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_config_text(BASE + textwrap.dedent(extra), base_dir=tmp_path, env={})


def test_without_the_section_nothing_of_the_cluster_is_loaded() -> None:
    code = (
        "import sys, bridge.core.app, bridge.commands.run\n"
        "assert 'redis' not in sys.modules and 'bridge.cluster' not in sys.modules, "
        "sorted(m for m in sys.modules if 'redis' in m or 'cluster' in m)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_section_builds_settings_and_masks_the_password(tmp_path: Path) -> None:
    config = _load(
        """\
        cluster:
          url: redis://user:hunter2@redis.lan:6379/0
          instance: bridge-a
          lease_ttl_s: 6
          weight: 2
        """,
        tmp_path,
    )
    assert config.cluster is not None
    bridge = Bridge(config)
    assert bridge.cluster is not None
    settings = bridge.cluster.settings
    assert (settings.instance, settings.lease_ttl_s, settings.weight) == ("bridge-a", 6.0, 2.0)
    assert settings.url == "redis://user:hunter2@redis.lan:6379/0"
    assert "hunter2" not in str(bridge.info())
    assert "hunter2" not in repr(settings)  # e.g. in a traceback or a failed assertion
    assert "hunter2" not in repr(config.cluster)
    assert bridge.info()["config"]["cluster"]["url"] == "redis://***@redis.lan:6379/0"
    assert bridge.topics.bridge_state == "tiktok/bridge/bridge-a/state"
    assert bridge.sink.will_topic == "tiktok/bridge/bridge-a/state"
    assert bridge.topics.cluster_view == "tiktok/bridge/cluster"
    assert bridge.cluster.request_filter(bridge.topics) == (
        "$share/tiktok2mqtt/tiktok/bridge/request/#"
    )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("  instance: request\n", "cluster.instance"),
        ("  instance: Bridge.A\n", "cluster.instance"),
        ("  instance: a\n  lease_ttl_s: 3\n  renew_interval_s: 2.5\n", "cluster.renew_interval_s"),
        ("  instance: a\n  url: http://redis.lan\n", "cluster.url"),
    ],
)
def test_bad_sections_are_refused_with_the_key(tmp_path: Path, extra: str, problem: str) -> None:
    text = "cluster:\n" + ("" if "url:" in extra else "  url: redis://redis.lan:6379/0\n") + extra
    with pytest.raises(ConfigInvalid) as caught:
        _load(text, tmp_path)
    assert [p.path for p in caught.value.problems] == [problem]
