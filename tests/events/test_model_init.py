"""Events, users and gifts are built by model._slot_init's ``__init__`` (slot setters instead
of the frozen dataclass's object.__setattr__): same parameters, defaults and errors."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from bridge.events.model import ALL_EVENT_CLASSES, Emote, Event, GiftInfo, MemberEvent, User

CLASSES = (*ALL_EVENT_CLASSES, Event, User, GiftInfo, Emote)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_parameters_are_the_fields_keyword_only_with_their_defaults(cls: type) -> None:
    params = inspect.signature(cls).parameters
    fields = dataclasses.fields(cls)
    assert list(params) == [f.name for f in fields]
    for f in fields:
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY
        expected = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert params[f.name].default == expected, f.name


def test_every_field_is_set_and_the_instance_stays_frozen() -> None:
    user = User(id=1, nickname="n")
    event = MemberEvent(msg_id=2, room_id=3, create_time_ms=4, user=user, action=1)
    assert dataclasses.astuple(event) == (2, 3, 4, dataclasses.astuple(user), 1, 0)
    assert event == dataclasses.replace(event)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.action = 2  # type: ignore[misc]


def test_wrong_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError, match="missing 2 required keyword-only"):
        MemberEvent(msg_id=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        MemberEvent(msg_id=1, room_id=2, create_time_ms=3, bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MemberEvent(1, 2, 3)  # type: ignore[misc]
