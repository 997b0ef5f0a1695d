"""One declaration per setting: a dataclass field with its type, default, range, doc and flags.

    @section("Connection to the MQTT broker.")
    class MqttSettings:
        keepalive: int = setting(default=60, doc="MQTT keep-alive in seconds.",
                                 minimum=5, maximum=3600)

The class is an ordinary frozen dataclass the layers use directly. Its validation node tree is
derived from the annotations and the `setting()` metadata (bool, int, float, str, Literal,
Path, X | None, tuple of Literal or of sections, Mapping of name to value, nested sections),
so the type, the default, the allowed values, the doc line, whether it is secret and whether
a change needs a restart are written once. Fields declared without `setting()` are not keys
(internal values with a plain default).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, dataclass_transform, get_args, get_origin
from urllib.parse import unquote, urlsplit

from bridge.settings.problems import Problem
from bridge.settings.schema import (
    Bool,
    Context,
    FilePath,
    ListOf,
    MapOf,
    Node,
    Number,
    Rules,
    SecretValue,
    Section,
    Text,
    TextList,
    Url,
    check,
    join,
)

T = TypeVar("T")
_KEY = "tiktok2mqtt.setting"
_MISSING: Any = dataclasses.MISSING


@dataclass(frozen=True, slots=True)
class Spec:
    """What `setting()` records about one key, besides its type and default."""

    doc: str
    required: bool
    secret: bool
    restart: bool | None  # None: the section's default
    default_doc: str | None
    options: Mapping[str, Any]
    kind: Node | None  # a ready node for kinds the annotation cannot express


def setting(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    doc: str = "",
    required: bool | None = None,
    secret: bool = False,
    restart: bool | None = None,
    default_doc: str | None = None,
    kind: Node | None = None,
    **options: Any,
) -> Any:
    """Declare one key. Without a default the key is required (`required=True` makes a key
    with a default for the code required in the file).

    options: minimum, maximum (numbers, or the values of a mapping); choices, pattern,
    pattern_doc, min_length, max_length, normalize, numbers, controls (text); url (schemes),
    allow_userinfo; must_exist (paths); key_pattern, key_doc, min_items, max_items (mappings,
    lists); shorthand, missing_message (lists); rule (a last check on the converted value).
    """
    unknown = options.keys() - _OPTIONS
    if unknown:  # a misspelt limit would silently not apply
        raise TypeError(f"unknown setting() options: {', '.join(sorted(unknown))}")
    if required is None:
        required = default is _MISSING and default_factory is None
    spec = Spec(doc, required, secret, restart, default_doc, options, kind)
    metadata = {_KEY: spec}
    repr_ = not secret  # a secret never shows up in repr() either
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, repr=repr_)
    return dataclasses.field(default=default, metadata=metadata, repr=repr_)


@dataclass(frozen=True, slots=True)
class SectionInfo:
    doc: str
    hints: Mapping[str, str]
    rules: Rules | None
    restart: bool


_SECTIONS: dict[type, SectionInfo] = {}
_NODES: dict[type, Section] = {}


@dataclass_transform(frozen_default=True, field_specifiers=(setting, dataclasses.field))
def section(
    doc: str,
    *,
    hints: Mapping[str, str] | None = None,
    rules: Rules | None = None,
    restart: bool = True,
) -> Callable[[type[T]], type[T]]:
    """Make a frozen settings dataclass whose `setting()` fields are configuration keys.

    rules: cross-key checks of the section (value, path, whole document) -> problems.
    restart: whether its keys need a restart to apply (a key's own `restart=` wins).
    """

    def wrap(cls: type[T]) -> type[T]:
        made = dataclasses.dataclass(frozen=True, slots=True)(cls)
        _SECTIONS[made] = SectionInfo(doc, dict(hints or {}), rules, restart)
        return made

    return wrap


def is_section(tp: Any) -> bool:
    return isinstance(tp, type) and tp in _SECTIONS


def node_of(cls: type) -> Section:
    """The validation node of a settings class (derived once, then cached)."""
    node = _NODES.get(cls)
    if node is None:
        node = _NODES[cls] = _derive(cls)
    return node


def _derive(cls: type) -> Section:
    info = _SECTIONS[cls]
    hints = typing.get_type_hints(cls)
    children: dict[str, Node] = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_KEY)
        if isinstance(spec, Spec):
            restart = info.restart if spec.restart is None else spec.restart
            children[f.name] = _field_node(hints[f.name], spec, _default_of(f), restart)
    return Section(doc=info.doc, children=children, hints=info.hints, rules=info.rules, cls=cls)


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _field_node(tp: Any, spec: Spec, default: Any, restart: bool) -> Node:
    common: dict[str, Any] = {
        "doc": spec.doc,
        "required": spec.required,
        "secret": spec.secret,
        "rule": spec.options.get("rule"),
        "default_doc": spec.default_doc,
        "restart": restart,
    }
    tp, optional = _strip_optional(tp)
    if spec.kind is not None:
        node = dataclasses.replace(spec.kind, **common)
    elif is_section(tp):
        inner = node_of(tp)
        common["doc"] = spec.doc or inner.doc
        node = dataclasses.replace(inner, optional=optional and default is None, **common)
        return node  # a section's default is its keys' defaults
    else:
        node = _plain_node(tp, spec.options, common)
    return dataclasses.replace(node, default=node.to_document(default))


def _plain_node(tp: Any, options: Mapping[str, Any], common: dict[str, Any]) -> Node:
    origin, args = get_origin(tp), get_args(tp)
    if tp is bool:
        return Bool(**common)
    if tp is int or tp is float:
        limits = {k: options[k] for k in ("minimum", "maximum") if k in options}
        return Number(integer=tp is int, **limits, **common)
    if tp is Path:
        return FilePath(must_exist=options.get("must_exist", False), **common)
    if tp is str and "url" in options:
        return Url(
            schemes=options["url"], allow_userinfo=options.get("allow_userinfo", False), **common
        )
    if tp is str or origin is Literal:
        text = {k: options[k] for k in _TEXT_OPTIONS if k in options}
        if origin is Literal:
            text["choices"] = args
        return Text(**text, **common)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if get_origin(item) is Literal:
            return TextList(choices=get_args(item), **common)
        if is_section(item):
            lists = {
                k: options[k] for k in ("shorthand", "missing_message", "max_items") if k in options
            }
            return ListOf(item=node_of(item), **lists, **common)
    if origin in (Mapping, dict, typing.Mapping) and len(args) == 2:
        value = (
            node_of(args[1])
            if is_section(args[1])
            else _plain_node(args[1], options, {"doc": "", "restart": common["restart"]})
        )
        keys = {k: options[k] for k in _MAP_OPTIONS if k in options}
        return MapOf(value=value, **keys, **common)
    raise TypeError(f"no configuration node for the type {tp!r}; pass kind=")


_TEXT_OPTIONS = (
    "choices",
    "pattern",
    "pattern_doc",
    "min_length",
    "max_length",
    "normalize",
    "numbers",
    "controls",
)
_MAP_OPTIONS = ("key_pattern", "key_doc", "min_items", "max_items")
_LIST_OPTIONS = ("shorthand", "missing_message", "max_items")
_OPTIONS = frozenset(
    {"minimum", "maximum", "url", "allow_userinfo", "must_exist", "rule"}
    | set(_TEXT_OPTIONS + _MAP_OPTIONS + _LIST_OPTIONS)
)


# --------------------------------------------------------------------------- using a declaration


def parse(
    node: Node,
    data: Any,
    *,
    path: str = "",
    root: Mapping[str, Any] | None = None,
    base_dir: Path = Path("."),
) -> tuple[Any, list[Problem]]:
    """Check `data` against `node` and build it: (settings value, []) or (None, problems).

    root: the document the cross-key rules see (default: the checked value itself), e.g. the
    running configuration when a streamer/add request is checked like a `streamers` entry.
    """
    ctx = Context(base_dir=base_dir)
    checked = check(node, data, path, ctx)
    ctx.run_rules(root if root is not None else checked)
    if ctx.problems:
        return None, ctx.problems
    return node.build(checked), []


def restart_changes(node: Node, old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Key paths whose value differs between two built settings and whose change needs a
    restart (declared per key); a key applied in place (e.g. a streamer's options) is not one.
    """
    if old == new:
        return
    if isinstance(node, Section) and node.cls is not None and old is not None and new is not None:
        for name, child in node.children.items():
            yield from restart_changes(
                child, getattr(old, name), getattr(new, name), join(path, name)
            )
    elif node.restart:
        yield path


def secrets_in(node: Node, value: Any) -> Iterator[str]:
    """Every secret a checked document holds, in each form a log line may show it: values
    of secret keys and of `!secret`/`!credential`, and the credentials inside proxy URLs."""
    if isinstance(value, SecretValue) or (node.secret and isinstance(value, str)):
        yield str(value)
    if isinstance(node, Url) and node.allow_userinfo and isinstance(value, str):
        yield from _url_credentials(value)
    if isinstance(node, Section) and isinstance(value, Mapping):
        for name, child in node.children.items():
            yield from secrets_in(child, value.get(name))
    elif isinstance(node, ListOf) and isinstance(value, list):
        for item in value:
            yield from secrets_in(node.item, item)
    elif isinstance(node, MapOf) and isinstance(value, Mapping):
        for item in value.values():
            yield from secrets_in(node.value, item)


def _url_credentials(url: str) -> Iterator[str]:
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    for raw in (password, user if password else None):
        if raw:
            yield raw
            yield unquote(raw)
