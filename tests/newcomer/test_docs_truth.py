"""The docs say only what is true, and the repository stands alone.

* Every YAML block in docs/ and the READMEs is a configuration (or a fragment of one) that
  passes ``tiktok2mqtt check-config``, unless an HTML comment right before it says
  ``<!-- not-config: what it is -->`` (a Compose file, a Home Assistant automation…).
  Fragments are completed with the minimal keys they lack; the secrets, credentials,
  variables and files they name are provided, as a user would.
* Every ``tiktok2mqtt …`` command line shown in the docs parses (argparse, nothing runs).
* Every ``docs/protocol.md §N`` cited anywhere exists, and nothing cites documents that are
  not in the repository or reads outside it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.cli import build_parser, main
from tests.helpers.paths import REPO

DOC_FILES = sorted(
    [*REPO.glob("docs/*.md"), REPO / "README.md", *REPO.glob("examples/*/README.md")]
)
NOT_CONFIG = re.compile(r"^<!--\s*not-config\b.*-->$")
# What a fragment lacks to be a whole configuration.
MINIMAL = {"streamers": "streamers: [demo_streamer]\n"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence
    text: str
    config: bool

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def yaml_blocks() -> Iterator[Block]:
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            fence = re.match(r"^\s*```(\S*)\s*$", lines[index])
            if fence is None:
                index += 1
                continue
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            if fence.group(1) in ("yaml", "yml"):
                before = next((ln.strip() for ln in reversed(lines[:index]) if ln.strip()), "")
                body = "\n".join(lines[index + 1 : end]) + "\n"
                yield Block(path, index + 1, body, not NOT_CONFIG.match(before))
            index = end + 1


BLOCKS = list(yaml_blocks())
CONFIG_BLOCKS = [b for b in BLOCKS if b.config]


def test_the_docs_have_config_blocks_and_marked_others() -> None:
    assert len(CONFIG_BLOCKS) >= 4, [str(b) for b in BLOCKS]
    assert any(not b.config for b in BLOCKS)  # the marker is in use (and so recognised)


def _complete(text: str, root: Path) -> tuple[str, dict[str, str]]:
    """The block as a whole configuration; the secrets, credentials, variables and files it
    names made available; returns the text and the environment to check it with."""
    present = set(re.findall(r"^([A-Za-z_]\w*):", text, re.MULTILINE))
    text += "".join(v for k, v in MINIMAL.items() if k not in present)
    secrets = re.findall(r"!secret\s+(\w+)", text)
    (root / "secrets.yaml").write_text("".join(f"{name}: doc-secret\n" for name in secrets))
    credentials = root / "credentials"
    credentials.mkdir()
    for name in re.findall(r"!credential\s+(\w+)", text):
        (credentials / name).write_text("doc-credential\n")
    env = {name: "doc-value" for name in re.findall(r"\$\{(\w+)", text)}
    env["CREDENTIALS_DIRECTORY"] = str(credentials)

    # Host paths (/etc/tiktok2mqtt/ca.crt…) point into a scratch tree where they exist.
    def relocate(match: re.Match[str]) -> str:
        target = root / "fs" / match.group(0).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix:
            target.touch()
        return str(target)

    text = re.sub(r"(?<=[\s:'\"])/(?:[\w.-]+/)*[\w.-]+", relocate, text)
    return text, env


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=str)
def test_config_blocks_pass_check_config(
    block: Block,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, env = _complete(block.text, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    code = main(["check-config", "-c", str(config)])
    out = capsys.readouterr()
    assert code == 0, f"{block} does not pass check-config:\n{out.err}\n--- as checked:\n{text}"


def test_a_wrong_key_in_a_block_would_be_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check itself bites: the key the systemd guide once showed is refused."""
    text, _ = _complete("tiktok:\n  sign_api_key: abc\n", tmp_path)
    (tmp_path / "config.yaml").write_text(text)
    assert main(["check-config", "-c", str(tmp_path / "config.yaml")]) == 78
    assert "tiktok.sign_api_key" in capsys.readouterr().err


# ------------------------------------------------------------------------- command lines

PROGRAM = "tiktok2mqtt"
# What runs tiktok2mqtt's own arguments: the program itself (any path), `docker exec NAME`
# / `docker compose exec SERVICE` before it, or `docker compose run SERVICE` (the image's
# entry point is tiktok2mqtt, so the arguments follow the service name).
_PREFIXES = ("sudo", "$", "exec")


@dataclass(frozen=True)
class CommandLine:
    where: str
    argv: tuple[str, ...]
    name_only: bool  # an inline mention like `tiktok2mqtt record`: only the name must exist

    def __str__(self) -> str:
        return f"{self.where}: tiktok2mqtt {' '.join(self.argv)}"


def _words(command: str) -> list[str]:
    command = re.sub(r"\s#\s.*$", "", command)  # a trailing comment
    command = re.sub(r"\[[^\]]*\]", "", command)  # [--optional parts] of a synopsis
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _tiktok2mqtt_args(words: list[str]) -> list[str] | None:
    while words and words[0] in _PREFIXES:
        words = words[1:]
    if words[:2] == ["docker", "exec"] or words[:3] == ["docker", "compose", "exec"]:
        rest = [w for w in words[2 if words[1] == "exec" else 3 :]]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        words = rest[1:]  # after the container / service
    elif words[:3] == ["docker", "compose", "run"]:
        rest = words[3:]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        if rest[:1] != [PROGRAM]:
            return None
        words = rest  # the service is named like the program it runs
    if not words or not (words[0] == PROGRAM or words[0].endswith(f"/bin/{PROGRAM}")):
        return None  # e.g. the folder /etc/tiktok2mqtt, the image in `docker build -t …`
    return words[1:]


def _logical_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(number, line); a shell line ending in a backslash is joined with the next ones."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip() if pending else line[:-1])
            continue
        yield start, " ".join([*pending, line.strip()]) if pending else line
        pending = []


def command_lines() -> Iterator[CommandLine]:
    for path in DOC_FILES:
        in_fence = False
        for number, line in _logical_lines(path):
            where = f"{path.relative_to(REPO)}:{number}"
            if line.strip().startswith("```"):
                in_fence = not in_fence
                continue
            exec_form = re.search(r'\["tiktok2mqtt"(?:,\s*"[^"]*")*\]', line)
            if exec_form:  # Dockerfile exec form: CMD ["tiktok2mqtt", "healthcheck", …]
                yield CommandLine(where, tuple(json.loads(exec_form.group(0))[1:]), False)
                continue
            inline = not (in_fence or line.startswith("    "))
            spans = re.findall(r"`([^`]+)`", line) if inline else [line]
            for span in spans:
                for command in re.split(r"&&|\|\||;|\|", span):
                    args = _tiktok2mqtt_args(_words(command))
                    if args is not None:
                        yield CommandLine(where, tuple(args), inline and len(args) <= 1)


COMMANDS = list(command_lines())


def test_the_docs_show_commands() -> None:
    full = [c for c in COMMANDS if not c.name_only]
    assert len(full) >= 15, [str(c) for c in COMMANDS]


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command_lines_parse(
    command: CommandLine, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    if command.name_only:
        subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        assert not command.argv or command.argv[0] in subcommands or command.argv[0] == "--version"
        return
    try:
        parser.parse_args(list(command.argv))
    except SystemExit as exc:
        assert exc.code == 0, f"{command}: {capsys.readouterr().err}"


# ------------------------------------------------------------------------- self-contained

PROTOCOL = REPO / "docs" / "protocol.md"
SKIP = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", ".hypothesis", "out", "fixtures"}  # fmt: skip
TEXT_SUFFIXES = {".py", ".pyi", ".md", ".toml", ".yaml", ".yml", ".proto", ".sh", ".service",
                 ".example", ".cfg", ".ini", ".txt", ".json", ".conf", ""}  # fmt: skip


def repository_text_files() -> Iterator[Path]:
    stack = [REPO]
    while stack:
        directory = stack.pop()
        for path in directory.iterdir():
            if path.name in SKIP or path.name.endswith(".egg-info"):
                continue  # .git is a file in a worktree
            if path.is_dir():
                stack.append(path)
            elif path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
                yield path


def _sections() -> set[str]:
    headings = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", PROTOCOL.read_text(), re.MULTILINE)
    return set(headings)


def test_protocol_sections_are_numbered_stably() -> None:
    sections = _sections()
    assert {str(n) for n in range(1, 10)} <= sections
    assert {"5.5", "6.4", "7", "8"} <= sections


def test_every_cited_protocol_section_exists() -> None:
    sections = _sections()
    missing = []
    for path in repository_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for cited in re.findall(r"protocol\.md §(\d+(?:\.\d+)?)", text):
            if cited not in sections:
                missing.append(f"{path.relative_to(REPO)}: §{cited}")
    assert not missing, missing


def test_the_frame_vectors_of_the_protocol_doc_are_the_tested_ones() -> None:
    from tests.tiktok.test_frames import VECTORS

    doc = PROTOCOL.read_text()
    for name, (_, hex_bytes) in VECTORS.items():
        assert hex_bytes in doc, f"docs/protocol.md §5.5 lacks the {name} vector"


# Nothing may read, or point a reader to, anything outside the repository. The name of the
# reference folder the project was written beside is assembled, so that this file does
# not itself mention a path outside the repository.
_REF = "sha" + "red"
FORBIDDEN = {
    "a path of the machine the project was written on": r"/work/|/root/|/home/[a-z]",
    "the reference folder beside a checkout": (
        rf"\.\./{_REF}|TIKTOK2MQTT_{_REF.upper()}|{_REF}/tools"
    ),
    "documents that are not in the repository": (
        rf"{_REF}/\w+\.md|conventions(\.md)? §|peer-issues|(?<![/\[\w])protocol\.md §"
    ),
    "a hard-coded temporary directory": r"['\"]/tmp/",
}


def test_nothing_points_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    found = []
    for path in repository_text_files():
        if path.resolve() == this:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, pattern in FORBIDDEN.items():
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {what}: {match.group(0)!r}")
    assert not found, "\n".join(found)
