"""Reading the YAML file: `!secret`, `!credential`, `${ENV}`; then check and build.

Only yaml.SafeLoader (via a subclass) is ever used: a configuration file must not be able to
construct arbitrary Python objects.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bridge.config.model import ROOT, Config
from bridge.settings.problems import ConfigInvalid, Problem
from bridge.settings.schema import Context, SecretValue, Unresolved, check
from bridge.settings.service import ServiceSettings

SECRETS_FILE = "secrets.yaml"
# Docker/Compose mounts secrets here; systemd's LoadCredential= uses $CREDENTIALS_DIRECTORY.
DOCKER_SECRETS_DIR = Path("/run/secrets")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STR_TAG = "tag:yaml.org,2002:str"


class _Sources:
    """Where `!secret`, `!credential` and `${...}` values come from (injectable for tests)."""

    def __init__(self, base_dir: Path, env: Mapping[str, str], docker_dir: Path) -> None:
        self.base_dir = base_dir
        self.env = env
        self.docker_dir = docker_dir
        self._secrets: dict[str, Any] | Unresolved | None = None

    def credential_dirs(self) -> list[Path]:
        dirs = (
            [Path(self.env["CREDENTIALS_DIRECTORY"])]
            if self.env.get("CREDENTIALS_DIRECTORY")
            else []
        )
        return [*dirs, self.docker_dir]

    def secrets(self) -> dict[str, Any] | Unresolved:
        if self._secrets is None:
            self._secrets = _read_secrets_file(self.base_dir / SECRETS_FILE)
        return self._secrets


def _read_secrets_file(path: Path) -> dict[str, Any] | Unresolved:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return Unresolved(f"cannot read {path}: {type(exc).__name__}")
    except yaml.YAMLError as exc:
        return Unresolved(f"{path} is not valid YAML ({_yaml_error_words(exc)})")
    except RecursionError:
        return Unresolved(f"{path} is nested too deeply")
    if data is None:
        return {}
    if not isinstance(data, dict):
        return Unresolved(f"{path} must be a mapping of name: value")
    return data


class _Loader(yaml.SafeLoader):
    sources: _Sources
    duplicates: list[tuple[int, str]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys silently; a config typo deserves a warning.
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if "$" not in text:
        return text
    result = substitute_env(text, loader.sources.env)
    if isinstance(result, Unresolved) or node.style is not None:
        return result  # quoted: stays text
    # Plain scalar: `keepalive: ${KEEPALIVE:-60}` must become the number 60, as if written.
    tag: str = loader.resolve(yaml.ScalarNode, result, (True, False))  # type: ignore[no-untyped-call]
    if tag == _STR_TAG:
        return result
    constructor: Callable[[Any, yaml.Node], Any] = loader.yaml_constructors[tag]
    return constructor(loader, yaml.ScalarNode(tag, result, node.start_mark, node.end_mark))


def substitute_env(text: str, env: Mapping[str, str]) -> str | Unresolved:
    """Replace ${NAME} and ${NAME:-default}; $${ is a literal ${."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "\0"  # placeholder, so the malformed-reference check below skips it
        name, fallback = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and fallback is not None):
            if fallback is None:
                missing.append(name)
                return ""
            return fallback
        return value

    result = _ENV_REF.sub(replace, text)
    if missing:
        return Unresolved(
            f"environment variable {missing[0]} is not set "
            f"(use ${{{missing[0]}:-default}} for a default)"
        )
    if "${" in _ENV_REF.sub("", text.replace("$${", "")):
        return Unresolved(
            "has a malformed ${...} reference; write ${NAME} or ${NAME:-default} "
            "($${ for a literal ${)"
        )
    return result.replace("\0", "${")


def _scalar_name(loader: _Loader, node: yaml.Node, tag: str) -> str | Unresolved:
    if not isinstance(node, yaml.ScalarNode):
        return Unresolved(f"{tag} needs a name, e.g. `{tag} mqtt_password`")
    name = str(loader.construct_scalar(node)).strip()
    if not _NAME.fullmatch(name):
        return Unresolved(f"{tag} {name!r}: names may contain letters, digits and _ . - only")
    return name


def _construct_secret(loader: _Loader, node: yaml.Node) -> Any:
    name = _scalar_name(loader, node, "!secret")
    if isinstance(name, Unresolved):
        return name
    secrets = loader.sources.secrets()
    if isinstance(secrets, Unresolved):
        return secrets
    if name in secrets:
        value = secrets[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return Unresolved(f"!secret {name}: the value in {SECRETS_FILE} must be text")
        return SecretValue(str(value))
    # The same name may come from systemd LoadCredential= or a Docker secret.
    found = _read_credential(loader.sources, name)
    if found is not None:
        return found
    where = [
        str(loader.sources.base_dir / SECRETS_FILE),
        *map(str, loader.sources.credential_dirs()),
    ]
    return Unresolved(f"!secret {name} was not found in " + ", ".join(where))


def _construct_credential(loader: _Loader, node: yaml.Node) -> Any:
    name = _scalar_name(loader, node, "!credential")
    if isinstance(name, Unresolved):
        return name
    found = _read_credential(loader.sources, name)
    if found is not None:
        return found
    dirs = ", ".join(map(str, loader.sources.credential_dirs()))
    return Unresolved(
        f"!credential {name}: no file named {name!r} in {dirs} "
        "($CREDENTIALS_DIRECTORY is set by systemd LoadCredential=)"
    )


def _read_credential(sources: _Sources, name: str) -> SecretValue | Unresolved | None:
    for folder in sources.credential_dirs():
        path = folder / name
        if path.is_file():
            try:
                # Files written with echo end in a newline that is not part of the password.
                return SecretValue(path.read_text(encoding="utf-8").rstrip("\r\n"))
            except (OSError, UnicodeDecodeError) as exc:
                return Unresolved(f"cannot read credential {path}: {type(exc).__name__}")
    return None


_Loader.add_constructor(_STR_TAG, _construct_str)
_Loader.add_constructor("!secret", _construct_secret)
_Loader.add_constructor("!credential", _construct_credential)


def _yaml_error_words(exc: yaml.YAMLError) -> str:
    # Never str(exc): PyYAML quotes the offending line, which may hold a password.
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        words = exc.problem or exc.context or "syntax error"
        if mark is not None:
            return f"line {mark.line + 1}, column {mark.column + 1}: {words}"
        return words
    if isinstance(exc, yaml.reader.ReaderError):
        return f"position {exc.position}: this character cannot be used in YAML"
    return "syntax error"


def parse_yaml(text: str, *, name: str, sources: _Sources) -> tuple[Any, list[Problem]]:
    """YAML text -> data (with Unresolved placeholders) and file-level problems."""
    try:
        # The reader checks every character already here, so this is inside the try too.
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        raise ConfigInvalid(
            [Problem(name, f"YAML syntax error at {_yaml_error_words(exc)}")]
        ) from None
    loader.sources = sources
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigInvalid(
            [Problem(name, f"YAML syntax error at {_yaml_error_words(exc)}")]
        ) from None
    except RecursionError:
        raise ConfigInvalid([Problem(name, "YAML is nested too deeply")]) from None
    finally:
        loader.dispose()
    problems = [
        Problem(name, f"line {line}: key {key!r} is set twice (the later one would silently win)")
        for line, key in loader.duplicates
    ]
    return data, problems


def check_document(data: Any, *, base_dir: Path) -> tuple[dict[str, Any], list[Problem]]:
    """Validate every key and every cross-key rule; returns the checked document and problems."""
    if data is None:
        data = {}  # an empty file: report what is missing, not "not a mapping"
    ctx = Context(base_dir=base_dir)
    if not isinstance(data, Mapping):
        ctx.add(
            "",
            "the configuration file must be a mapping of sections "
            "(mqtt:, tiktok:, streamers:, ...)",
        )
        return {}, ctx.problems
    doc = check(ROOT, data, "", ctx)
    ctx.run_rules(doc)
    return doc, ctx.problems


def parse_config(
    data: Any,
    *,
    base_dir: Path,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    problems: list[Problem] | None = None,
) -> Config:
    """Already-parsed data (dicts/lists/scalars) -> Config, or ConfigInvalid with every problem."""
    doc, found = check_document(data, base_dir=base_dir)
    found = [*(problems or []), *found]
    if found:
        raise ConfigInvalid(found)
    config: Config = ROOT.build(doc)
    service = _resolve_service(config.service, base_dir, os.environ if env is None else env)
    return dataclasses.replace(config, service=service, source=source, document=doc)


def _resolve_service(
    service: ServiceSettings, base_dir: Path, env: Mapping[str, str]
) -> ServiceSettings:
    """Defaults that depend on where the file is and on systemd's environment."""
    # systemd's StateDirectory= may list several folders separated by ':'; the first is ours.
    state_directory = env.get("STATE_DIRECTORY", "").split(":")[0]
    default_dir = Path(state_directory) if state_directory else (base_dir / "state").absolute()
    state_dir = service.state_dir or default_dir
    return dataclasses.replace(
        service, state_dir=state_dir, health_file=service.health_file or state_dir / "health"
    )


def load_config_text(
    text: str,
    *,
    base_dir: Path,
    name: str = "config.yaml",
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    docker_secrets_dir: Path = DOCKER_SECRETS_DIR,
) -> Config:
    env = os.environ if env is None else env
    sources = _Sources(base_dir, env, docker_secrets_dir)
    data, problems = parse_yaml(text, name=name, sources=sources)
    return parse_config(data, base_dir=base_dir, source=source, env=env, problems=problems)


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    docker_secrets_dir: Path = DOCKER_SECRETS_DIR,
) -> Config:
    """Read, check and build the configuration. Raises ConfigInvalid listing every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigInvalid(
            [Problem(str(file), "file not found (copy config.yaml.example to start)")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid([Problem(str(file), f"cannot be read: {type(exc).__name__}")]) from None
    return load_config_text(
        text,
        base_dir=file.absolute().parent,
        name=str(file),
        source=file.absolute(),
        env=env,
        docker_secrets_dir=docker_secrets_dir,
    )
