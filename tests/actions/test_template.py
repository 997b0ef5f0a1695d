"""The payload template language: structural JSON, escaping, caps, no code."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.actions.template import (
    MAX_VALUE_CHARS,
    Template,
    TemplateError,
    clean_text,
    compile_payload,
)

HOSTILE = [
    '"},"on":false,"x":{"',
    "back\\slash\\",
    "new\nline\r\n",
    "a/+/#",
    "nul\x00byte",
    "bad \udcff utf8 \ud800",
    "{{ user.nickname }}",  # a template in a value is just text
    "x" * 10_000,
    "\u2028sep\u2029",
    "emoji 👋🏽",
]

EVENT = {
    "user": {"nickname": "Ann", "is_moderator": False},
    "gift": {"name": "Rose", "diamonds_each": 1},
    "count": 5,
    "final": True,
    "arg": "red",
}


def test_text_rendering() -> None:
    payload = compile_payload("{{ user.nickname }} sent {{count}}x {{ gift.name }}{{ missing }}")
    assert payload.render(EVENT) == b"Ann sent 5x Rose"


def test_json_single_field_keeps_type() -> None:
    payload = compile_payload({"n": "{{ count }}", "f": "{{ final }}", "s": "n={{ count }}",
                               "u": "{{ user.missing }}", "lit": [1, True, None]})  # fmt: skip
    assert json.loads(payload.render(EVENT)) == {"n": 5, "f": True, "s": "n=5", "u": "",
                                                 "lit": [1, True, None]}  # fmt: skip


@pytest.mark.parametrize(
    "source",
    [
        "{{ user.__class__.__init__ }}x{{ 1+1 }}",
        "{{ exec('rm') }}",
        "{{ a[0] }}",
        "{{ open",
        "{{}}",
    ],
)
def test_no_expressions(source: str) -> None:
    with pytest.raises(TemplateError):
        Template.parse(source)


def test_lookup_is_mapping_only() -> None:
    # A valid-looking name that is a Python attribute finds nothing: no getattr, ever.
    assert Template.parse("{{ __class__ }}{{ user.__dict__ }}").render(EVENT) == ""
    assert Template.parse("{{ gift.name.upper }}").render(EVENT) == ""


@pytest.mark.parametrize("nickname", HOSTILE)
def test_hostile_values_in_json(nickname: str) -> None:
    payload = compile_payload({"state": "ON", "who": "{{ user.nickname }}", "t": "{{ text }}"})
    raw = payload.render({"user": {"nickname": nickname}, "text": nickname})
    data = json.loads(raw.decode("utf-8"))  # valid UTF-8 and valid JSON
    assert set(data) == {"state", "who", "t"} and data["state"] == "ON"
    assert len(data["who"]) <= MAX_VALUE_CHARS
    assert not any(ord(c) < 32 or c in "\u2028\u2029" for c in data["who"])


@pytest.mark.parametrize("nickname", HOSTILE)
def test_hostile_values_in_text(nickname: str) -> None:
    raw = compile_payload("hi {{ user.nickname }}!").render({"user": {"nickname": nickname}})
    text = raw.decode("utf-8")
    assert text.startswith("hi ") and text.endswith("!")
    assert "\n" not in text and "\x00" not in text and len(text) <= MAX_VALUE_CHARS + 4


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_any_text_keeps_json_valid(nickname: str, comment: str) -> None:
    payload = compile_payload({"a": ["{{ user.nickname }}", {"b": "x{{ text }}y"}]})
    data = json.loads(payload.render({"user": {"nickname": nickname}, "text": comment}))
    assert data["a"][0] == clean_text(nickname)
    assert data["a"][1]["b"] == "x" + clean_text(comment) + "y"


def test_objects_render_as_capped_json_text() -> None:
    out = Template.parse("{{ user }}").render({"user": {"nickname": "a" * 500}})
    assert out.startswith('{"nickname":"aaa') and len(out) == MAX_VALUE_CHARS
