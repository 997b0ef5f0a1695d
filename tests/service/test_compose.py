"""compose.yaml (docs/docker.md) without a Docker engine: its structure and keys, that every
file it mounts or builds from exists, that the bridge's configuration passes check-config
and points at the broker service, that the broker listens where the bridge looks, and that
the excerpts in the docs are the file's own."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bridge.cli import main
from tests.helpers.paths import REPO

COMPOSE = REPO / "compose.yaml"
TOP_LEVEL = {"name", "services", "volumes", "networks", "secrets", "configs"}
# The Compose specification's service keys that this file may use.
SERVICE_KEYS = {
    "image", "build", "restart", "ports", "volumes", "depends_on", "environment",
    "secrets", "extra_hosts", "command", "healthcheck", "user", "networks",
}  # fmt: skip
RESTART = {"no", "always", "on-failure", "unless-stopped"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _binds(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host source of the service's volumes (short syntax)."""
    out = {}
    for spec in service.get("volumes", []):
        source, target, *mode = spec.split(":")
        assert not mode or mode == ["ro"], spec
        out[target] = source
    return out


def test_structure_and_keys(compose: dict[str, Any]) -> None:
    assert set(compose) <= TOP_LEVEL
    services = compose["services"]
    assert set(services) == {"mosquitto", "tiktok2mqtt"}
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert service.get("restart") in RESTART
    named = {s for svc in services.values() for s in _binds(svc).values() if "/" not in s}
    assert named == set(compose["volumes"]), "every named volume declared, none unused"
    assert services["tiktok2mqtt"]["depends_on"] == ["mosquitto"]


def test_every_file_it_mounts_or_builds_from_exists(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for source in _binds(service).values():
            if "/" in source:
                assert (COMPOSE.parent / source).exists(), source
    bridge = compose["services"]["tiktok2mqtt"]
    assert (COMPOSE.parent / bridge["build"] / "Dockerfile").is_file()
    # Where the image reads its configuration (TIKTOK2MQTT_CONFIG) and keeps its state.
    assert {"/config/config.yaml", "/data"} <= set(_binds(bridge))


def test_the_bridge_config_passes_check_config_and_finds_the_broker(
    compose: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config = COMPOSE.parent / _binds(compose["services"]["tiktok2mqtt"])["/config/config.yaml"]
    assert main(["check-config", "-c", str(config)]) == 0, capsys.readouterr().err
    server = urlsplit(yaml.safe_load(config.read_text())["mqtt"]["server"])
    assert server.hostname == "mosquitto"  # the service name is its host name in compose
    listeners = re.findall(r"^listener\s+(\d+)", _mosquitto_conf(compose), re.MULTILINE)
    assert str(server.port or 1883) in listeners


def _mosquitto_conf(compose: dict[str, Any]) -> str:
    binds = _binds(compose["services"]["mosquitto"])
    return (COMPOSE.parent / binds["/mosquitto/config/mosquitto.conf"]).read_text()


def test_the_broker_accepts_the_bridge_and_keeps_its_data(compose: dict[str, Any]) -> None:
    mosquitto = compose["services"]["mosquitto"]
    assert mosquitto["image"].startswith("eclipse-mosquitto:2")
    conf = _mosquitto_conf(compose)
    directives = {line.split()[0] for line in conf.splitlines() if line.strip()[:1] not in "#"}
    # mosquitto 2 listens on localhost only and refuses everyone without these.
    assert "listener" in directives
    assert re.search(r"^allow_anonymous true$", conf, re.MULTILINE) or "password_file" in conf
    location = re.search(r"^persistence_location\s+(\S+)", conf, re.MULTILINE)
    assert location and location.group(1).rstrip("/") in _binds(mosquitto)
    assert "1883:1883" in mosquitto["ports"]  # Home Assistant and lights reach it too


@pytest.mark.parametrize("doc", ["docker.md", "home-assistant.md"])
def test_the_docs_excerpts_are_the_file(compose: dict[str, Any], doc: str) -> None:
    text = (REPO / "docs" / doc).read_text()
    excerpts = re.findall(r"excerpt of compose\.yaml -->\n```yaml\n(.*?)\n```", text, re.S)
    assert excerpts, f"docs/{doc} lost its compose.yaml excerpt"
    for excerpt in excerpts:
        for name, service in yaml.safe_load(excerpt)["services"].items():
            for key, value in service.items():
                assert compose["services"][name][key] == value, (doc, name, key)
