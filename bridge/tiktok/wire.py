"""A small pure-Python reader for the decode views (proto/webcast_view.proto).

Used instead of protobuf's own parser only when protobuf runs as pure Python (no compiled
``upb`` build: 32-bit Raspberry Pi OS, ``arm/v7`` containers; docs/install-systemd.md). That
parser builds a message object, a listener and an unknown-field copy for every field and
sub-message of a 2-5 KB message; this one walks the bytes once, jumps over every field the
view does not declare, and stores the declared ones in plain attribute dictionaries. The
views are read through their generated descriptors, so there is one schema, not two.

The objects answer what the builders ask of a protobuf message: attributes with proto3
defaults (0, "", b"", False, an empty sub-message, an empty sequence), ``HasField`` for
sub-messages and ``ByteSize``. The wire semantics are protobuf's: the last value of a
scalar wins, a sub-message seen twice is merged, repeated scalars may be packed or not, a
field whose wire type differs from the declaration is skipped like an unknown one, int32 and
int64 are two's complement. Strings follow the compiled runtime and the schema's
``utf8_validation = NONE``: invalid UTF-8 reads back as ``bytes`` (protobuf's pure-Python
parser refuses the whole message instead). Malformed input raises ``DecodeError``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

__all__ = ["ViewReader", "reader"]

_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5
_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63
_MASK32 = (1 << 32) - 1
_SIGN32 = 1 << 31

# How a declared field's value is made (_MAP: a map field, read into a dict).
_INT64, _INT32, _BOOL, _STRING, _BYTES, _MESSAGE, _MAP = range(7)
_KINDS = {
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_BOOL: _BOOL,
    FieldDescriptor.TYPE_STRING: _STRING,
    FieldDescriptor.TYPE_BYTES: _BYTES,
    FieldDescriptor.TYPE_MESSAGE: _MESSAGE,
}
_DEFAULTS: dict[int, Any] = {_INT64: 0, _INT32: 0, _BOOL: False, _STRING: "", _BYTES: b""}
_EMPTY_MAP: MappingProxyType[Any, Any] = MappingProxyType({})
# Deeper nesting of unknown groups than this is refused (protobuf's own limit is 100).
_MAX_GROUP_DEPTH = 64


class View:
    """Base of the classes made for each view message: values live in the instance
    ``__dict__``; absent fields fall back to the class attributes (proto3 defaults)."""

    _data = b""  # what a top-level message was read from
    DESCRIPTOR: Any = None  # the view's protobuf descriptor, set on each made class

    def HasField(self, name: str) -> bool:  # protobuf's name
        return name in self.__dict__

    def ByteSize(self) -> int:  # protobuf's name
        """Bytes the message was read from (protobuf's size of a canonical encoding)."""
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        """Equal to a view or protobuf message of the same type with the same fields (as
        protobuf compares; unknown fields aside)."""
        descriptor = self.DESCRIPTOR
        if getattr(getattr(other, "DESCRIPTOR", None), "full_name", None) != descriptor.full_name:
            return NotImplemented
        for field in descriptor.fields:
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                mine, theirs = dict(mine), dict(theirs)
            elif field.is_repeated:
                mine, theirs = list(mine), list(theirs)
            elif entry is not None and self.HasField(field.name) != other.HasField(field.name):  # type: ignore[attr-defined]
                return False
            if mine != theirs:
                return False
        return True

    def ListFields(self) -> list[tuple[Any, Any]]:  # protobuf's name
        """(field descriptor, value) of every field not at its default, in field order."""
        out = []
        for field in self.DESCRIPTOR.fields:
            value = getattr(self, field.name)
            single_message = field.message_type is not None and not field.is_repeated
            if field.name in self.__dict__ if single_message else value:
                out.append((field, value))
        return out

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like protobuf messages

    def SerializeToString(self) -> bytes:  # protobuf's name
        """The bytes the message was read from, unknown fields included (a recording
        stores what arrived); only for messages read by ``FromString``."""
        return self._data


# field key (field number << 3 | wire type) → (attribute, kind, packed, repeated, sub-plan)
_Field = tuple[str, int, bool, bool, "_Plan | None"]


class _Plan:
    __slots__ = ("cls", "fields")

    def __init__(self, cls: type[View]) -> None:
        self.cls = cls
        self.fields: dict[int, _Field] = {}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint longer than 10 bytes")


def _skip(buf: bytes, pos: int, end: int, key: int) -> int:
    """The position after an undeclared field's value (groups included)."""
    wire = key & 7
    if wire == _VARINT:
        while buf[pos] >= 0x80:
            pos += 1
        return pos + 1
    if wire == _LEN:
        size, pos = _varint(buf, pos)
        return pos + size
    if wire == _I64:
        return pos + 8
    if wire == _I32:
        return pos + 4
    if wire == _SGROUP:
        return _skip_group(buf, pos, end, key >> 3)
    raise DecodeError(f"unexpected wire type {wire}")


def _skip_group(buf: bytes, pos: int, end: int, number: int) -> int:
    open_groups = [number]
    while open_groups:
        if pos >= end:
            raise DecodeError("truncated group")
        key, pos = _varint(buf, pos)
        if key & 7 == _EGROUP:
            if key >> 3 != open_groups.pop():
                raise DecodeError("mismatched end-group tag")
        elif key & 7 == _SGROUP:
            if len(open_groups) >= _MAX_GROUP_DEPTH:
                raise DecodeError("groups nested too deeply")
            open_groups.append(key >> 3)
        else:
            pos = _skip(buf, pos, end, key)
    return pos


def _scalar(kind: int, value: int) -> int | bool:
    if kind == _INT64:
        value &= _MASK64
        return value - (1 << 64) if value & _SIGN64 else value
    if kind == _INT32:
        value &= _MASK32
        return value - (1 << 32) if value & _SIGN32 else value
    return value != 0  # _BOOL


def _text(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # as upb does with utf8_validation = NONE; frames.as_text decodes it


def _parse(buf: bytes, pos: int, end: int, plan: _Plan, into: View | None) -> View:
    obj = plan.cls.__new__(plan.cls) if into is None else into
    values = obj.__dict__
    fields = plan.fields
    while pos < end:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(buf, pos)
            if key > _MASK32:  # field numbers end at 2**29 - 1
                raise DecodeError("tag out of range")
        spec = fields.get(key)
        if spec is None:
            if key < 8:
                raise DecodeError("field number 0")
            if key & 7 == _EGROUP:
                raise DecodeError("unexpected end-group tag")
            pos = _skip(buf, pos, end, key)
            continue
        name, kind, packed, repeated, sub = spec
        value: Any
        if key & 7 == _VARINT:
            raw, pos = _varint(buf, pos)
            value = _scalar(kind, raw)
        else:  # _LEN: the only other wire type a view declares
            size, pos = _varint(buf, pos)
            stop = pos + size
            if stop > end:
                raise DecodeError("truncated field")
            if packed:
                items = values.setdefault(name, [])
                while pos < stop:
                    raw, pos = _varint(buf, pos)
                    items.append(_scalar(kind, raw))
                if pos != stop:
                    raise DecodeError("truncated packed field")
                continue
            if kind == _MESSAGE:
                assert sub is not None
                # A singular sub-message that occurs twice is merged, as protobuf does.
                merge = None if repeated else values.get(name)
                value = _parse(buf, pos, stop, sub, merge)
            elif kind == _MAP:
                assert sub is not None
                entry = _parse(buf, pos, stop, sub, None).__dict__
                # Missing key or value: the default (a later entry of the same key wins).
                key_, item = entry.get("key", sub.cls.key), entry.get("value", sub.cls.value)  # type: ignore[attr-defined]
                values.setdefault(name, {})[key_] = item
                pos = stop
                continue
            elif kind == _STRING:
                value = _text(buf[pos:stop])
            else:
                value = buf[pos:stop]
            pos = stop
        if repeated:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    if pos != end:
        raise DecodeError("truncated message")
    return obj


def _plan_of(descriptor: Any, plans: dict[str, _Plan]) -> _Plan:
    # Any: the descriptor classes differ between the upb and the pure-Python runtime.
    known = plans.get(descriptor.full_name)
    if known is not None:
        return known
    names = {"__module__": __name__, "__qualname__": descriptor.name, "DESCRIPTOR": descriptor}
    cls = type(descriptor.name, (View,), names)
    plan = plans[descriptor.full_name] = _Plan(cls)
    for field in descriptor.fields:
        kind = _KINDS.get(field.type)
        if kind is None:
            raise TypeError(f"{field.full_name}: type {field.type} is not supported by wire.py")
        repeated = field.is_repeated
        sub = _plan_of(field.message_type, plans) if kind == _MESSAGE else None
        if sub is not None and field.message_type.GetOptions().map_entry:
            kind, repeated = _MAP, False
            default: Any = _EMPTY_MAP
        elif repeated:
            default = ()
        elif sub is not None:
            default = sub.cls()  # shared and never written: values go into new objects
        else:
            default = _DEFAULTS[kind]
        setattr(cls, field.name, default)
        length_delimited = kind in (_STRING, _BYTES, _MESSAGE, _MAP)
        wire = _LEN if length_delimited else _VARINT
        plan.fields[field.number << 3 | wire] = (field.name, kind, False, repeated, sub)
        if repeated and not length_delimited:
            plan.fields[field.number << 3 | _LEN] = (field.name, kind, True, True, None)
    return plan


class ViewReader:
    """``FromString`` of one view message, like a generated protobuf class's."""

    def __init__(self, message: type[Message]) -> None:
        self._plan = _plan_of(message.DESCRIPTOR, {})
        self.__name__ = message.DESCRIPTOR.name

    def FromString(self, data: bytes) -> Any:  # protobuf's name
        try:
            view = _parse(data, 0, len(data), self._plan, None)
        except IndexError:
            raise DecodeError("truncated message") from None
        view._data = data
        return view


def reader(message: type[Message]) -> ViewReader:
    """The pure-Python reader of a view class of proto/webcast_view.proto."""
    return ViewReader(message)
