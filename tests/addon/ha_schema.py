"""The Home Assistant add-on files, checked as Home Assistant documents them.

Sources: the HA developer docs "Add-on configuration" (config.yaml keys and types, options /
schema element types, build.yaml, translations), "Create an add-on repository"
(repository.yaml) and "Presenting your add-on" (icon, logo), cross-read with the
Supervisor's validation (addons/validate.py, addons/options.py, store/validate.py).

One deliberate difference: the Supervisor silently drops an unknown key, so a typo such as
``servics:`` would just do nothing; here an unknown key, like a wrong type, is a problem.
Booleans must be real YAML booleans (the Supervisor also takes "yes"/"on" strings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

Check = Callable[[Any], str | None]  # None when fine, else what is wrong

ARCHES = ("aarch64", "amd64", "armv7", "armhf", "i386")
RE_SLUG = re.compile(r"[-_.A-Za-z0-9]+")
RE_VERSION = re.compile(r"[\w.+-]+")
# addons/options.py RE_SCHEMA_ELEMENT: the option types a schema may use ("?" = optional).
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool|email|url|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?"
    r"|float(?:\((?P<f_min>[\d\.]+)?,(?P<f_max>[\d\.]+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
RE_VOLUME = re.compile(
    r"(data|config|ssl|addons|backup|share|media|homeassistant_config|all_addon_configs"
    r"|addon_config)(?::(rw|ro))?"
)
MAP_TYPES = (
    "data", "config", "ssl", "addons", "backup", "share", "media", "homeassistant_config",
    "all_addon_configs", "addon_config",
)  # fmt: skip
RE_SERVICE = re.compile(r"(mqtt|mysql):(provide|want|need)")
RE_PORT_KEY = re.compile(r"\d+/(tcp|udp)")
RE_IMAGE = re.compile(r"([a-zA-Z\-\.:\d{}]+/)*?([\-\w{}]+)/([\-\w{}]+)(:[\.\-\w{}]+)?")
RE_WEBUI = re.compile(r"(?:https?|\[PROTO:\w+\]):\/\/\[HOST\]:\[PORT:\d+\].*")
RE_WATCHDOG = re.compile(r"(?:https?|\[PROTO:\w+\]|tcp):\/\/\[HOST\]:(\[PORT:\d+\]|\d+).*")
CAPABILITIES = (
    "BPF", "CHECKPOINT_RESTORE", "DAC_READ_SEARCH", "IPC_LOCK", "NET_ADMIN", "NET_RAW",
    "PERFMON", "SYS_ADMIN", "SYS_MODULE", "SYS_NICE", "SYS_PTRACE", "SYS_RAWIO",
    "SYS_RESOURCE", "SYS_TIME",
)  # fmt: skip


# ---------------------------------------------------------------- small checkers


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be text, not {type(value).__name__}"


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {value!r}"


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {value!r}"
        return None if low <= value <= high else f"must be {low} to {high}, not {value}"

    return check


def one_of(*allowed: str) -> Check:
    return lambda value: None if value in allowed else f"must be one of {allowed}, not {value!r}"


def matching(pattern: re.Pattern[str]) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return f"{value!r} does not match {pattern.pattern}"
        return None

    return check


def url(value: Any) -> str | None:
    parts = urlsplit(value) if isinstance(value, str) else None
    return None if parts and parts.scheme and parts.netloc else f"{value!r} is not a URL"


def list_of(item: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list, not {type(value).__name__}"
        for index, element in enumerate(value):
            if (problem := item(element)) is not None:
                return f"[{index}] {problem}"
        return None

    return check


def mapping_of(key: Check, item: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be a mapping, not {type(value).__name__}"
        for k, v in value.items():
            if (problem := key(k) or item(v)) is not None:
                return f"{k!r}: {problem}"
        return None

    return check


def any_of(*checks: Check) -> Check:
    def check(value: Any) -> str | None:
        problems = [c(value) for c in checks]
        return None if None in problems else " / ".join(p for p in problems if p)

    return check


def record(required: Mapping[str, Check], optional: Mapping[str, Check]) -> Check:
    """A mapping with exactly these keys: unknown ones and wrong types are problems."""

    def check(value: Any) -> str | None:
        problems = check_keys(value, required, optional)
        return "; ".join(problems) if problems else None

    return check


def check_keys(
    data: Any, required: Mapping[str, Check], optional: Mapping[str, Check]
) -> list[str]:
    if not isinstance(data, dict):
        return [f"must be a mapping, not {type(data).__name__}"]
    problems = [f"{key}: is required" for key in required if key not in data]
    for key, value in data.items():
        checker = required.get(key) or optional.get(key)
        if checker is None:
            problems.append(f"{key}: unknown key")
        elif (problem := checker(value)) is not None:
            problems.append(f"{key}: {problem}")
    return problems


def _volume(value: Any) -> str | None:
    if isinstance(value, str):
        return matching(RE_VOLUME)(value)
    return record({"type": one_of(*MAP_TYPES)}, {"read_only": boolean, "path": text})(value)


def _ulimit(value: Any) -> str | None:
    return any_of(integer(0, 2**63), record({"soft": integer(0, 2**63),
                                             "hard": integer(0, 2**63)}, {}))(value)  # fmt: skip


def _schema_element(value: Any, depth: int = 0) -> str | None:
    """A schema entry: a type string, a list of one entry, or a mapping (depth ≤ 2)."""
    if isinstance(value, str):
        return None if RE_SCHEMA_ELEMENT.match(value) else f"unknown option type {value!r}"
    if depth >= 2:
        return "nested deeper than the two levels Home Assistant supports"
    if isinstance(value, list):
        if len(value) != 1:
            return "a list type has exactly one element type"
        if isinstance(value[0], list):
            return "a list may not directly contain another list"
        return _schema_element(value[0], depth + 1)
    if isinstance(value, dict):
        for key, element in value.items():
            if not isinstance(key, str):
                return f"option name {key!r} must be text"
            if (problem := _schema_element(element, depth + 1)) is not None:
                return f"{key}: {problem}"
        return None
    return f"must be a type, a list or a mapping, not {value!r}"


def _schema(value: Any) -> str | None:
    if value is False:
        return None
    if not isinstance(value, dict):
        return "must be a mapping of option: type (or false)"
    for key, element in value.items():
        if (problem := _schema_element(element)) is not None:
            return f"{key}: {problem}"
    return None


_BOOL_KEYS = (
    "init", "advanced", "ingress", "ingress_stream", "panel_admin", "host_network", "host_pid",
    "host_ipc", "host_uts", "host_dbus", "udev", "tmpfs", "full_access", "audio", "video",
    "gpio", "usb", "uart", "devicetree", "kernel_modules", "realtime", "hassio_api",
    "homeassistant_api", "stdin", "legacy", "docker_api", "auth_api", "journald",
)  # fmt: skip

CONFIG_REQUIRED: dict[str, Check] = {
    "name": text,
    "version": matching(RE_VERSION),
    "slug": matching(RE_SLUG),
    "description": text,
    "arch": list_of(one_of(*ARCHES)),
}
CONFIG_OPTIONAL: dict[str, Check] = {
    **dict.fromkeys(_BOOL_KEYS, boolean),
    "machine": list_of(text),
    "url": url,
    "startup": one_of("initialize", "system", "services", "application", "once"),
    "boot": one_of("auto", "manual", "manual_only"),
    "webui": matching(RE_WEBUI),
    "watchdog": matching(RE_WATCHDOG),
    "ingress_port": integer(0, 65535),
    "ingress_entry": text,
    "panel_icon": text,
    "panel_title": text,
    "homeassistant": matching(RE_VERSION),
    "ports": mapping_of(matching(RE_PORT_KEY), any_of(integer(1, 65535), lambda v: (
        None if v is None else "must be a port or null"))),
    "ports_description": mapping_of(matching(RE_PORT_KEY), text),
    "devices": list_of(text),
    "map": list_of(_volume),
    "environment": mapping_of(text, text),
    "privileged": list_of(one_of(*CAPABILITIES)),
    "apparmor": any_of(boolean, text),
    "hassio_role": one_of("default", "homeassistant", "backup", "manager", "admin"),
    "services": list_of(matching(RE_SERVICE)),
    "discovery": list_of(text),
    "backup": one_of("hot", "cold"),
    "backup_pre": text,
    "backup_post": text,
    "backup_exclude": list_of(text),
    "stage": one_of("stable", "experimental", "deprecated"),
    "options": lambda v: None if isinstance(v, dict) else "must be a mapping",
    "schema": _schema,
    "image": matching(RE_IMAGE),
    "codenotary": text,
    "timeout": integer(10, 300),
    "ulimits": mapping_of(text, _ulimit),
    "breaking_versions": list_of(matching(RE_VERSION)),
}  # fmt: skip

BUILD_OPTIONAL: dict[str, Check] = {
    "build_from": any_of(matching(RE_IMAGE), mapping_of(one_of(*ARCHES), matching(RE_IMAGE))),
    "args": mapping_of(text, text),
    "labels": mapping_of(text, text),
    "squash": boolean,
    "codenotary": record({}, {"signer": text, "base_image": text}),
}

REPOSITORY_REQUIRED: dict[str, Check] = {"name": text}
REPOSITORY_OPTIONAL: dict[str, Check] = {"url": url, "maintainer": text}


def check_addon_config(data: Any) -> list[str]:
    problems = check_keys(data, CONFIG_REQUIRED, CONFIG_OPTIONAL)
    if problems or not isinstance(data, dict):
        return problems
    schema, options = data.get("schema", {}), data.get("options", {})
    if isinstance(schema, dict):
        for key in options:
            element = schema.get(key)
            if isinstance(element, str) and element.endswith("?"):
                # HA: a default makes the option required, so optional ones have none.
                problems.append(f"options.{key}: an optional option must have no default")
        problems += [f"options: {p}" for p in validate_options(schema, options)]
    return problems


def check_build_config(data: Any, arches: list[str]) -> list[str]:
    problems = check_keys(data, {}, BUILD_OPTIONAL)
    build_from = data.get("build_from") if isinstance(data, dict) else None
    if isinstance(build_from, dict) and sorted(build_from) != sorted(arches):
        problems.append(f"build_from: architectures {sorted(build_from)} != arch {arches}")
    return problems


def check_repository(data: Any) -> list[str]:
    return check_keys(data, REPOSITORY_REQUIRED, REPOSITORY_OPTIONAL)


def check_translations(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """`configuration`: a name (and description) for every option; `fields` for groups."""

    def entries(found: Any, options: Mapping[str, Any], path: str) -> list[str]:
        if not isinstance(found, dict):
            return [f"{path}: must be a mapping"]
        problems = [f"{path}.{key}: not an option" for key in found if key not in options]
        problems += [f"{path}.{key}: missing" for key in options if key not in found]
        for key, entry in found.items():
            element = options.get(key)
            element = element[0] if isinstance(element, list) else element
            fields = {"fields": lambda v: None} if isinstance(element, dict) else {}
            problems += [
                f"{path}.{key}.{p}"
                for p in check_keys(entry, {"name": text}, {"description": text, **fields})
            ]
            if isinstance(element, dict) and isinstance(entry, dict):
                problems += entries(entry.get("fields", {}), element, f"{path}.{key}.fields")
        return problems

    problems = check_keys(data, {}, {"configuration": lambda v: None, "network": lambda v: None})
    if isinstance(data, dict):
        problems += entries(data.get("configuration", {}), schema, "configuration")
    return problems


# ---------------------------------------------------------------- option values


def validate_options(schema: Mapping[str, Any], options: Any) -> list[str]:
    """What the Supervisor would refuse in `options` (it validates before every start)."""
    if not isinstance(options, dict):
        return ["options must be a mapping"]
    return _validate_dict(schema, options, "")


def _validate_dict(schema: Mapping[str, Any], data: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    for key, value in data.items():
        if key not in schema:
            problems.append(f"{path}{key}: not in the schema")
        else:
            problems += _validate_element(schema[key], value, f"{path}{key}")
    for key, element in schema.items():
        if key in data:
            continue
        first = element[0] if isinstance(element, list) else element
        if not (isinstance(first, str) and first.endswith("?")):
            problems.append(f"{path}{key}: missing (required)")
    return problems


def _validate_element(element: Any, value: Any, path: str) -> list[str]:
    if isinstance(element, list):
        if not isinstance(value, list):
            return [f"{path}: must be a list"]
        return [
            p
            for index, item in enumerate(value)
            for p in _validate_element(element[0], item, f"{path}[{index}]")
        ]
    if isinstance(element, dict):
        if not isinstance(value, dict):
            return [f"{path}: must be a mapping"]
        return _validate_dict(element, value, f"{path}.")
    problem = _single(element, value)
    return [f"{path}: {problem}"] if problem else []


def _single(element: str, value: Any) -> str | None:
    match = RE_SCHEMA_ELEMENT.match(element)
    assert match, element
    kind = element.rstrip("?")
    if value is None:
        return "has no value"
    if kind.startswith(("str", "password")):
        low = match.group("s_min") or match.group("p_min")
        high = match.group("s_max") or match.group("p_max")
        if not isinstance(value, str):
            return f"must be text, not {value!r}"
        if (low and len(value) < int(low)) or (high and len(value) > int(high)):
            return f"length must be {low or 0} to {high or '∞'}"
        return None
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {value!r}"
        low, high = match.group("i_min"), match.group("i_max")
        if (low and value < int(low)) or (high and value > int(high)):
            return f"must be {low or '-∞'} to {high or '∞'}"
        return None
    if kind.startswith("float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"must be a number, not {value!r}"
    if kind == "bool":
        return boolean(value)
    if kind == "url":
        return url(value)
    if kind == "email":
        return None if isinstance(value, str) and "@" in value else f"{value!r} is not an email"
    if kind == "port":
        return integer(1, 65535)(value)
    if kind.startswith("match"):
        ok = re.match(match.group("match"), str(value)) is not None
        return None if ok else f"{value!r} does not match {match.group('match')}"
    if kind.startswith("list"):
        allowed = match.group("list").split("|")
        return None if str(value) in allowed else f"must be one of {allowed}, not {value!r}"
    return f"type {element!r} cannot be checked here"  # device(): needs the real hardware
