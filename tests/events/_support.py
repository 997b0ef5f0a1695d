"""Shared helpers of the events tests: fixtures, schema validation, message builders."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from bridge.events import Event, StreamProcessor
from bridge.tiktok.pb import webcast_pb2 as pb
from tests.helpers.paths import REPO, fixtures_dir

ROOM = 7301234567890123456
SCHEMA_PATH = REPO / "docs" / "schemas" / "events.schema.json"


def synthetic(name: str) -> bytes:
    return (fixtures_dir() / "synthetic" / name).read_bytes()


def synthetic_result() -> pb.FetchResult:
    return pb.FetchResult.FromString(synthetic("response_all.bin"))


def real_payloads() -> Iterator[dict[str, Any]]:
    """Each line of real-2023/payloads.jsonl, with ``payload`` (bytes) added."""
    path: Path = fixtures_dir() / "real-2023" / "payloads.jsonl"
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            row["payload"] = base64.b64decode(row["payload_b64"])
            yield row


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


@cache
def validator(event_type: str | None = None) -> jsonschema.Draft202012Validator:
    """The whole schema, or (faster: no oneOf over every type) the branch of one type."""
    root = schema()
    if event_type is None:
        return jsonschema.Draft202012Validator(root)
    registry: Registry[Any] = Registry().with_resource(root["$id"], Resource.from_contents(root))
    branch = {"$ref": f"{root['$id']}#/$defs/{event_type}"}
    return jsonschema.Draft202012Validator(branch, registry=registry)


def assert_valid(event: Event, *, whole: bool = False) -> dict[str, Any]:
    """The event's JSON, after a real encode/decode round trip, checked against the schema."""
    text = json.dumps(event.to_dict(), ensure_ascii=False)
    data: dict[str, Any] = json.loads(text)
    errors = list(validator(None if whole else data["type"]).iter_errors(data))
    assert not errors, f"{data['type']}: {errors[0].message} in {data}"
    return data


def processor(**kwargs: Any) -> StreamProcessor:
    kwargs.setdefault("like_window_s", 0.0)
    return StreamProcessor(ROOM, clock=lambda: 1_700_000_000.0, **kwargs)


def user(uid: int, handle: str = "viewer", nickname: str = "Viewer") -> pb.User:
    return pb.User(id=uid, display_id=handle, nickname=nickname)


def common(msg_id: int, create_time: int = 1_700_000_000_000, key: str = "") -> pb.Common:
    return pb.Common(
        msg_id=msg_id, room_id=ROOM, create_time=create_time, display_text=pb.Text(key=key)
    )


def gift_msg(
    msg_id: int,
    *,
    count: int,
    end: int = 0,
    group: int = 1,
    uid: int = 11,
    gift_id: int = 5655,
    gift_type: int = 1,
    diamonds: int = 1,
) -> bytes:
    """A serialised GiftMessage (one step of a streak)."""
    return pb.GiftMessage(
        common=common(msg_id),
        gift_id=gift_id,
        repeat_count=count,
        repeat_end=end,
        group_id=group,
        user=user(uid),
        gift=pb.GiftStruct(id=gift_id, name="Rose", type=gift_type, diamond_count=diamonds),
    ).SerializeToString()


def like_msg(msg_id: int, *, count: int, total: int, uid: int = 11) -> bytes:
    return pb.LikeMessage(
        common=common(msg_id), count=count, total=total, user=user(uid)
    ).SerializeToString()
