"""A tiny, safe template language for action payloads: ``{{ user.nickname }}`` and nothing else.

No expressions, no filters, no attribute access: a placeholder is a dotted path looked up with
``Mapping`` keys only, in the event dict plus a few values the rule adds (``arg``, ``rule``…).
Viewer-controlled text can therefore never run code or reach Python objects, and because
templates are only allowed in payloads (never in topics), it can never choose where a message
goes either.

Values are made wire-safe when rendered: lone surrogates (invalid UTF-8 from upstream) become
``?``, control characters (NUL, newline…) are removed and each value is capped in length. JSON
payloads are built structurally: only string leaves are templates, and the finished structure
goes through ``json.dumps``, so a nickname like ``"},"on":false`` stays a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = [
    "MAX_VALUE_CHARS",
    "JsonPayload",
    "PayloadTemplate",
    "Template",
    "TemplateError",
    "TextPayload",
    "clean_text",
    "compile_payload",
]

# One rendered value (a nickname, a comment) is cut to this many characters.
MAX_VALUE_CHARS: Final = 200
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MISSING: Final = object()

Context: TypeAlias = Mapping[str, Any]


class TemplateError(ValueError):
    """A template that cannot be used (reported as a configuration problem)."""


def clean_text(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Viewer text made safe for any device: valid UTF-8, no control characters, capped."""
    text = value.encode("utf-8", errors="replace").decode("utf-8")
    text = _CONTROL.sub("", text)
    return text if len(text) <= limit else text[:limit]


def lookup(context: Context, path: Sequence[str]) -> Any:
    """The value at a dotted path through mappings only, or _MISSING."""
    node: Any = context
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _as_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float):
        return str(value)
    # A whole object (e.g. {{ user }}) renders as compact JSON, cleaned and capped like text.
    return clean_text(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text with ``{{ path }}`` placeholders, parsed once at configuration time."""

    source: str
    parts: tuple[str | tuple[str, ...], ...]  # literal text, or a path of keys

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[str | tuple[str, ...]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(source):
            if match.start() > position:
                parts.append(source[position : match.start()])
            expression = match.group(1).strip()
            if not _PATH.fullmatch(expression):
                raise TemplateError(
                    f"'{{{{{match.group(1)}}}}}' is not a field name such as "
                    "{{ user.nickname }} (only lower-case names joined by dots)"
                )
            parts.append(tuple(expression.split(".")))
            position = match.end()
        rest = source[position:]
        if "{{" in rest:
            raise TemplateError("'{{' without a closing '}}'")
        if rest:
            parts.append(rest)
        return cls(source, tuple(parts))

    @property
    def fields(self) -> tuple[tuple[str, ...], ...]:
        return tuple(p for p in self.parts if isinstance(p, tuple))

    @property
    def is_single_field(self) -> bool:
        """Exactly one placeholder and nothing else: keeps the value's JSON type."""
        return len(self.parts) == 1 and isinstance(self.parts[0], tuple)

    def render(self, context: Context) -> str:
        return "".join(
            p if isinstance(p, str) else _as_text(lookup(context, p)) for p in self.parts
        )

    def render_value(self, context: Context) -> Any:
        """For a JSON leaf: ``"{{ count }}"`` gives the number 5, not the string "5"."""
        if not self.is_single_field:
            return self.render(context)
        path = self.parts[0]
        assert isinstance(path, tuple)
        value = lookup(context, path)
        if value is _MISSING or isinstance(value, Mapping | list | tuple | str):
            return _as_text(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        return _as_text(value)


class PayloadTemplate:
    """A compiled action payload: ``render`` gives the bytes to publish."""

    fields: tuple[tuple[str, ...], ...]

    def render(self, context: Context) -> bytes:
        raise NotImplementedError

    def _key(self) -> Any:
        raise NotImplementedError

    # Equal when compiled from the same configuration: a reload compares rules by value.
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PayloadTemplate)
            and type(other) is type(self)
            and (self._key() == other._key())
        )

    __hash__ = None  # type: ignore[assignment]


class TextPayload(PayloadTemplate):
    def __init__(self, template: Template) -> None:
        self.template = template
        self.fields = template.fields

    def render(self, context: Context) -> bytes:
        return self.template.render(context).encode("utf-8", errors="replace")

    def _key(self) -> Any:
        return self.template


JsonShape: TypeAlias = Any  # nested dict/list whose string leaves are Templates


class JsonPayload(PayloadTemplate):
    def __init__(self, shape: JsonShape) -> None:
        self.shape = shape
        fields: list[tuple[str, ...]] = []
        _collect_fields(shape, fields)
        self.fields = tuple(fields)

    def render(self, context: Context) -> bytes:
        value = _fill(self.shape, context)
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8", errors="replace")

    def _key(self) -> Any:
        return self.shape


def _collect_fields(shape: JsonShape, out: list[tuple[str, ...]]) -> None:
    if isinstance(shape, Template):
        out.extend(shape.fields)
    elif isinstance(shape, dict):
        for item in shape.values():
            _collect_fields(item, out)
    elif isinstance(shape, list):
        for item in shape:
            _collect_fields(item, out)


def _fill(shape: JsonShape, context: Context) -> Any:
    if isinstance(shape, Template):
        return shape.render_value(context)
    if isinstance(shape, dict):
        return {key: _fill(item, context) for key, item in shape.items()}
    if isinstance(shape, list):
        return [_fill(item, context) for item in shape]
    return shape  # a literal number, bool or null from the configuration


def _compile_shape(value: Any) -> JsonShape:
    if isinstance(value, str):
        template = Template.parse(value)
        # Plain strings stay plain: no need to walk them at render time.
        return template if template.fields else value
    if isinstance(value, Mapping):
        return {str(key): _compile_shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_compile_shape(item) for item in value]
    return value


def compile_payload(value: Any) -> PayloadTemplate:
    """A checked payload from the configuration (text, or a JSON mapping/list) → template."""
    if isinstance(value, str):
        return TextPayload(Template.parse(value))
    return JsonPayload(_compile_shape(value))
