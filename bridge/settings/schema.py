"""The validation engine behind every declared setting.

A tree of nodes, derived from the settings classes by bridge.settings.declare, drives all
that needs to know the keys: validation (every problem collected, each with its key path),
defaults, did-you-mean for unknown keys, redaction of secrets, building the settings objects
and the generated docs. Nodes never raise on bad input: they record a Problem and return
INVALID so one pass reports every mistake. The same nodes check the configuration file, a
SIGHUP reload and the fields of MQTT requests (streamer/add, chat/send, simulate).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from bridge.settings.problems import Problem


class _Invalid:
    """Stands in for a value that failed validation, so cross-field rules can skip it."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()


class SecretValue(str):
    """A string that came from `!secret`/`!credential`: redacted wherever it ends up."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Left by the loader where a value could not be produced (missing secret, unset env var).

    Reported by the validator at the key path where it appears, which the loader cannot know.
    """

    reason: str


# (this section's checked value, its key path, the whole checked document) -> problems. Runs
# after every key was checked; values that failed are INVALID and must be skipped.
Rules = Callable[[Mapping[str, Any], str, Mapping[str, Any]], Iterable[Problem]]


@dataclass(slots=True)
class Context:
    base_dir: Path  # relative file paths are resolved against the configuration's folder
    problems: list[Problem] = field(default_factory=list)
    # Cross-key rules of the sections met so far, run once the whole document is checked.
    pending: list[tuple[Rules, dict[str, Any], str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def run_rules(self, root: Mapping[str, Any]) -> None:
        for rules, value, path in self.pending:
            self.problems.extend(rules(value, path, root))
        self.pending.clear()


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """' (did you mean 'x'?)' or a list of choices when nothing is close; for error sentences."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    # Abbreviations ("sign" for "sign_server") score low on similarity but are obvious.
    prefixed = [c for c in choices if word and c.startswith(word)]
    close = close or (prefixed if len(prefixed) == 1 else [])
    if close:
        return f"; did you mean '{close[0]}'?"
    return "; expected one of: " + ", ".join(choices)


# Everything between "://" and the LAST "@" of a URL: a password may itself hold "/" or "@".
_URL_USERINFO = re.compile(r"(?<=://)\S*@")


def mask_userinfo(text: str) -> str:
    """Hide credentials embedded in a URL (socks5://user:pw@host) before showing it anywhere."""
    return _URL_USERINFO.sub("***@", text)


def show(value: Any, *, secret: bool = False) -> str:
    """A short, safe rendering of a user value for an error sentence (never a secret)."""
    if secret or isinstance(value, SecretValue):
        return "the given value"
    if isinstance(value, str):
        text = mask_userinfo(value)
        return repr(text if len(text) <= 60 else text[:57] + "...")
    if isinstance(value, bool | int | float) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {kind_of(value)}"


def kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True, kw_only=True, eq=False)
class Node:
    """One key: its doc sentence, default, and how a YAML/JSON value becomes a checked value."""

    doc: str = ""
    default: Any = None  # in the document's form (what a user would write)
    required: bool = False
    secret: bool = False  # never shown: "***" in bridge/info, never quoted in errors
    # Extra rule on the converted value: returns a sentence when the value is not acceptable.
    rule: Callable[[Any], str | None] | None = None
    # Docs: what the default means when it is not a plain value (e.g. "beside the config").
    default_doc: str | None = None
    # Whether a changed value only applies after a restart (SIGHUP sets restart_required).
    restart: bool = True

    @property
    def nullable(self) -> bool:
        return self.default is None and not self.required

    def type_name(self) -> str:
        raise NotImplementedError

    def constraints(self) -> str:
        """Allowed values/ranges in words, for the docs and error sentences."""
        return ""

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        """Check a present, non-null value; record problems and return INVALID when bad."""
        raise NotImplementedError

    def build(self, value: Any) -> Any:
        """Checked value -> the value the settings object holds (most kinds: itself)."""
        return value

    def to_document(self, value: Any) -> Any:
        """The inverse of build, for defaults held in the settings' own form."""
        return value

    def missing(self, path: str, ctx: Context) -> Any:
        """Value used when the key is absent."""
        if self.required:
            ctx.add(path, "is required")
            return INVALID
        return self.default

    def null(self, path: str, ctx: Context) -> Any:
        """Value used when the key is present but empty (`key:` or `key: null`)."""
        if self.nullable:
            return None
        if self.required:
            ctx.add(path, "is required and must not be empty")
            return INVALID
        ctx.add(path, f"must not be empty (remove the key to use the default {show(self.default)})")
        return INVALID

    def redact(self, value: Any) -> Any:
        if value is None or value is INVALID:
            return None
        if self.secret or isinstance(value, SecretValue):
            return "***"
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return list(value)
        return value


def check(node: Node, value: Any, path: str, ctx: Context) -> Any:
    """Validate one value against its node (the single entry point of the walk)."""
    if isinstance(value, Unresolved):
        ctx.add(path, value.reason)
        return INVALID
    if value is None:
        return node.null(path, ctx)
    result = node.convert(value, path, ctx)
    if result is not INVALID and node.rule is not None:
        message = node.rule(result)
        if message:
            ctx.add(path, message)
            return INVALID
    return result


def _type_problem(node: Node, value: Any, path: str, ctx: Context) -> _Invalid:
    ctx.add(path, f"must be {node.type_name()}, got {show(value, secret=node.secret)}")
    return INVALID


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_words(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{_num(minimum)} to {_num(maximum)}"
    if minimum is not None:
        return f">= {_num(minimum)}"
    if maximum is not None:
        return f"<= {_num(maximum)}"
    return ""


@dataclass(frozen=True, kw_only=True, eq=False)
class Bool(Node):
    def type_name(self) -> str:
        return "true or false"

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        return value if isinstance(value, bool) else _type_problem(self, value, path, ctx)


@dataclass(frozen=True, kw_only=True, eq=False)
class Number(Node):
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    def type_name(self) -> str:
        return "a whole number" if self.integer else "a number"

    def constraints(self) -> str:
        return _range_words(self.minimum, self.maximum)

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        ok_types = int if self.integer else int | float
        if isinstance(value, bool) or not isinstance(value, ok_types):
            return _type_problem(self, value, path, ctx)
        if not math.isfinite(value):
            ctx.add(path, "must be a finite number")
            return INVALID
        too_low = self.minimum is not None and value < self.minimum
        too_high = self.maximum is not None and value > self.maximum
        if too_low or too_high:
            ctx.add(path, f"must be {self.constraints()}, got {show(value, secret=self.secret)}")
            return INVALID
        return value if self.integer else float(value)


# TikTok ids are unsigned in practice but int64 on the wire; JSON carries them as text.
_ID_DIGITS = re.compile(r"[0-9]{1,19}")
MAX_ID: Final = 2**63 - 1


@dataclass(frozen=True, kw_only=True, eq=False)
class Id(Node):
    """A 64-bit TikTok id: a whole number, or text of ASCII digits (JSON carries ids as text)."""

    def type_name(self) -> str:
        return "an id (digits 0-9, as a number or as text)"

    def constraints(self) -> str:
        return f"1 to {MAX_ID}"

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if isinstance(value, str) and _ID_DIGITS.fullmatch(value):
            value = int(value)  # ASCII digits only: "²" or Arabic-Indic digits are not ids
        if isinstance(value, bool) or not isinstance(value, int):
            return _type_problem(self, value, path, ctx)
        if not 1 <= value <= MAX_ID:
            ctx.add(path, f"must be {self.constraints()}, got {show(value)}")
            return INVALID
        return value


def has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


@dataclass(frozen=True, kw_only=True, eq=False)
class Text(Node):
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # full match
    pattern_doc: str = ""  # the pattern in words, for errors and docs
    min_length: int = 0
    max_length: int = 1000
    normalize: Callable[[str], str] | None = None  # applied before checks (e.g. lower-case)
    # A number where text is expected becomes text (a numeric password or display name).
    numbers: bool = True
    controls: bool = False  # newlines, tabs... allowed (chat text is cleaned later)

    def type_name(self) -> str:
        return "one of " + ", ".join(self.choices) if self.choices else "text"

    def constraints(self) -> str:
        if self.choices:
            return "one of: " + ", ".join(f"`{c}`" for c in self.choices)
        if self.pattern_doc:
            return self.pattern_doc
        if self.min_length:
            return f"{self.min_length} to {self.max_length} characters"
        return ""

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        # Booleans never become text: `name: yes` is almost always a YAML surprise.
        numeric = isinstance(value, int) and not isinstance(value, bool)
        if numeric and self.numbers and not self.choices:
            value = str(value)
        if not isinstance(value, str):
            return _type_problem(self, value, path, ctx)
        text = self.normalize(value) if self.normalize else value
        if isinstance(value, SecretValue):
            text = SecretValue(text)
        return self._check_text(text, path, ctx)

    def _check_text(self, text: str, path: str, ctx: Context) -> Any:
        if self.choices and text not in self.choices:
            hint = "" if self.secret else did_you_mean(text, self.choices)
            ctx.add(path, f"{show(text, secret=self.secret)} is not allowed{hint}")
            return INVALID
        if len(text) > self.max_length:
            ctx.add(path, f"is too long (at most {self.max_length} characters)")
            return INVALID
        if len(text) < self.min_length:
            ctx.add(path, "must not be empty" if self.min_length == 1 else "is too short")
            return INVALID
        if not self.controls and has_control(text):
            ctx.add(path, "must not contain control characters (newline, tab, NUL, ...)")
            return INVALID
        if self.pattern and not re.fullmatch(self.pattern, text):
            ctx.add(path, f"{show(text, secret=self.secret)} is not valid: {self.pattern_doc}")
            return INVALID
        return text


@dataclass(frozen=True, kw_only=True, eq=False)
class Url(Node):
    schemes: tuple[str, ...] = ("http", "https")
    allow_userinfo: bool = False  # credentials inside the URL (proxies); masked when shown

    def type_name(self) -> str:
        return "a URL"

    def constraints(self) -> str:
        return " or ".join(f"`{s}://`" for s in self.schemes)

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, str):
            return _type_problem(self, value, path, ctx)
        parts = _split_url(value)
        if parts is None or parts.scheme not in self.schemes or not parts.hostname:
            # A URL that may carry a password is never quoted: it may be the broken part.
            shown = "the given value" if self.allow_userinfo else show(value, secret=self.secret)
            ctx.add(path, f"{shown} is not a URL starting with {self.constraints()} and a host")
            return INVALID
        if (parts.username or parts.password) and not self.allow_userinfo:
            ctx.add(path, "must not contain user or password; use the separate keys for them")
            return INVALID
        return value.rstrip("/") if parts.path in ("", "/") else value

    def redact(self, value: Any) -> Any:
        if self.allow_userinfo and isinstance(value, str) and not isinstance(value, SecretValue):
            return mask_userinfo(value)  # the host stays visible, the credentials do not
        redacted = super().redact(value)
        return mask_userinfo(redacted) if isinstance(redacted, str) else redacted


def _split_url(value: str) -> SplitResult | None:
    if any(c.isspace() or ord(c) < 32 for c in value):
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    return parts


@dataclass(frozen=True, kw_only=True, eq=False)
class FilePath(Node):
    """A path; relative ones are resolved against the configuration file's folder."""

    must_exist: bool = False

    def type_name(self) -> str:
        return "a file path"

    def constraints(self) -> str:
        return "must exist" if self.must_exist else "relative to the configuration file"

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, str) or not value or "\0" in value:
            return _type_problem(self, value, path, ctx)
        resolved = (ctx.base_dir / Path(value).expanduser()).absolute()
        if self.must_exist and not resolved.is_file():
            ctx.add(path, f"file {str(resolved)!r} does not exist or is not a file")
            return INVALID
        return resolved


@dataclass(frozen=True, kw_only=True, eq=False)
class TextList(Node):
    """A list of names from a fixed set (event types)."""

    choices: tuple[str, ...] = ()

    def type_name(self) -> str:
        return "a list of names"

    def constraints(self) -> str:
        return "any of: " + ", ".join(f"`{c}`" for c in self.choices)

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, list | tuple):
            return _type_problem(self, value, path, ctx)
        names: list[str] = []
        bad = False
        for index, item in enumerate(value):
            item_path = join(path, index)
            if not isinstance(item, str):
                ctx.add(item_path, f"must be a name, got {show(item)}")
                bad = True
            elif item not in self.choices:
                ctx.add(item_path, f"unknown name {show(item)}{did_you_mean(item, self.choices)}")
                bad = True
            elif item not in names:  # repeating a name is harmless: keep the first
                names.append(item)
            if bad and len(ctx.problems) > 100:
                break  # a huge list of mistakes: enough said
        return INVALID if bad else tuple(names)


@dataclass(frozen=True, kw_only=True, eq=False)
class MapOf(Node):
    """A mapping from user-chosen names to values of one kind (e.g. gift tiers)."""

    value: Node
    key_pattern: str = r"[a-z0-9_]{1,32}"
    key_doc: str = "lower-case letters, digits and _ (at most 32)"
    min_items: int = 0
    max_items: int = 100

    def type_name(self) -> str:
        return f"a mapping of name to {self.value.type_name()}"

    def constraints(self) -> str:
        parts = [f"names: {self.key_doc}"]
        if self.value.constraints():
            parts.append(f"values: {self.value.constraints()}")
        return "; ".join(parts)

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, Mapping):
            return _type_problem(self, value, path, ctx)
        if len(value) < self.min_items:
            ctx.add(path, f"needs at least {self.min_items} entry")
            return INVALID
        if len(value) > self.max_items:
            ctx.add(path, f"has too many entries (at most {self.max_items})")
            return INVALID
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not re.fullmatch(self.key_pattern, key):
                ctx.add(join(path, str(key)), f"is not a valid name: {self.key_doc}")
                result[str(key)] = INVALID
                continue
            result[key] = check(self.value, item, join(path, key), ctx)
        return INVALID if INVALID in result.values() else result

    def build(self, value: Any) -> Any:
        return {key: self.value.build(item) for key, item in value.items()}

    def redact(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return super().redact(value)
        return {k: self.value.redact(v) for k, v in value.items()}


@dataclass(frozen=True, kw_only=True, eq=False)
class Section(Node):
    """A mapping with known keys. Unknown keys are errors with a did-you-mean hint."""

    children: Mapping[str, Node]
    # Keys that used to exist or are commonly guessed -> what to write instead.
    hints: Mapping[str, str] = field(default_factory=dict)
    rules: Rules | None = None
    # The settings class built from the checked mapping (None: the mapping itself).
    cls: Callable[..., Any] | None = None
    optional: bool = False  # absent or empty means "not set" (None), e.g. `then:`

    def type_name(self) -> str:
        return "a mapping"

    def missing(self, path: str, ctx: Context) -> Any:
        if self.optional:
            return None
        return self.convert({}, path, ctx) if not self.required else super().missing(path, ctx)

    def null(self, path: str, ctx: Context) -> Any:
        # `mqtt:` with nothing under it means "all defaults", not an error.
        return None if self.optional else self.convert({}, path, ctx)

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, Mapping):
            return _type_problem(self, value, path, ctx)
        for key in value:
            if key not in self.children:
                self._unknown(key, path, ctx)
        result: dict[str, Any] = {}
        for name, node in self.children.items():
            child_path = join(path, name)
            if name in value:
                result[name] = check(node, value[name], child_path, ctx)
            else:
                result[name] = node.missing(child_path, ctx)
        if self.rules is not None:
            ctx.pending.append((self.rules, result, path))
        return result

    def _unknown(self, key: Any, path: str, ctx: Context) -> None:
        if not isinstance(key, str):
            ctx.add(path, f"keys must be names, got {show(key)}")
        elif key in self.hints:
            ctx.add(join(path, key), f"unknown key; {self.hints[key]}")
        else:
            ctx.add(join(path, key), "unknown key" + did_you_mean(key, list(self.children)))

    def build(self, value: Any) -> Any:
        if value is None:
            return None
        built = {name: node.build(value[name]) for name, node in self.children.items()}
        return built if self.cls is None else self.cls(**built)

    def redact(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return super().redact(value)
        return {name: node.redact(value.get(name)) for name, node in self.children.items()}


@dataclass(frozen=True, kw_only=True, eq=False)
class ListOf(Node):
    """A list of sections (streamers). A bare string item is short for {shorthand: item}."""

    item: Section
    shorthand: str | None = None
    missing_message: str = "is required"
    max_items: int = 1000

    def type_name(self) -> str:
        return "a list"

    def missing(self, path: str, ctx: Context) -> Any:
        if self.required:
            ctx.add(path, self.missing_message)
            return INVALID
        return []

    def null(self, path: str, ctx: Context) -> Any:
        return self.missing(path, ctx)

    def convert(self, value: Any, path: str, ctx: Context) -> Any:
        if not isinstance(value, list | tuple):
            return _type_problem(self, value, path, ctx)
        if len(value) > self.max_items:
            ctx.add(path, f"has too many entries (at most {self.max_items})")
            return INVALID
        items = []
        for index, item in enumerate(value):
            if self.shorthand and isinstance(item, str):
                item = {self.shorthand: item}
            items.append(check(self.item, item, join(path, index), ctx))
        return items

    def build(self, value: Any) -> Any:
        return tuple(self.item.build(item) for item in value)

    def redact(self, value: Any) -> Any:
        if not isinstance(value, list):
            return super().redact(value)
        return [self.item.redact(item) for item in value]


def walk(node: Node, path: str = "") -> Iterator[tuple[str, Node]]:
    """Every key of the tree in document order, as (path, node); lists as `name[]`."""
    if isinstance(node, Section):
        for name, child in node.children.items():
            child_path = join(path, name)
            yield child_path, child
            yield from walk(child, child_path)
    elif isinstance(node, ListOf):
        yield from walk(node.item, path + "[]")
    elif isinstance(node, MapOf):
        yield from walk(node.value, path + ".<name>")
