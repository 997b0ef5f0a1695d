"""The install guide's way works: `python -m build` makes an sdist and a wheel of a clone,
the wheel holds the whole package (generated protobuf code, data files, licence) and no
tests, and its `tiktok2mqtt` entry point runs from the installed wheel, not the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.paths import FIXTURES, REPO

# What a clone holds that a build must not see (caches, local venvs, build output).
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".hypothesis", "out",
)  # fmt: skip


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, env=env, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    clone = work / "clone"
    shutil.copytree(REPO, clone, ignore=_NOT_IN_A_CLONE)
    # --no-isolation: the test extra brings the build backend, so no index is needed.
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"),
                 str(clone))  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = sorted((work / "dist").glob("tiktok2mqtt-*-py3-none-any.whl"))
    assert len(wheels) == 1 and list((work / "dist").glob("tiktok2mqtt-*.tar.gz"))
    return wheels[0]


def test_the_wheel_holds_the_package_and_no_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for needed in ("bridge/cli.py", "bridge/py.typed", "bridge/tiktok/pb/webcast_pb2.py",
                   "bridge/tiktok/pb/webcast_pb2.pyi", "bridge/sim/server.py"):  # fmt: skip
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]
    assert "tiktok2mqtt = bridge.cli:main" in scripts


def test_the_installed_entry_point_runs(wheel: Path, tmp_path: Path) -> None:
    # The wheel alone (dependencies come from the test environment), scripts included.
    target = tmp_path / "site"
    installed = _run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                     "--no-index", "--target", str(target), str(wheel))  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    program = str(target / "bin" / "tiktok2mqtt")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _run(*args, env=env, cwd=tmp_path)  # away from the checkout's bridge/

    where = run(sys.executable, "-c", "import bridge; print(bridge.__file__)")
    assert where.stdout.strip().startswith(str(target)), where  # not the checkout

    version = run(program, "--version")
    assert version.returncode == 0 and version.stdout.startswith("tiktok2mqtt "), version
    (tmp_path / "config.yaml").write_text("streamers: [demo_streamer]\n")
    checked = run(program, "check-config", "-c", "config.yaml")
    assert checked.returncode == 0 and "Configuration is valid" in checked.stdout, checked
    # The generated protobuf code and the event model work from the wheel.
    decoded = run(program, "decode", str(FIXTURES / "synthetic" / "frame_gzip.bin"))
    assert decoded.returncode == 0 and '"type":' in decoded.stdout, decoded
