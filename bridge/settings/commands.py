"""The fields MQTT requests carry, declared like configuration keys (docs/mqtt-api.md).

`streamer/add` is checked as a `streamers:` entry (bridge.settings.streamer); `chat/send`
and every `simulate` type have a section here. Each numeric field has a range, each text a
length limit, so what one request costs in time and memory is bounded whatever it says.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from bridge.settings.declare import section, setting
from bridge.settings.names import USER_DOC, USER_PATTERN, normalise_user, user_problem
from bridge.settings.schema import Id
from bridge.settings.streamer import GoalName

# The request envelope (bridge.core.commands).
MAX_TRANSACTION_CHARS: Final = 256  # `transaction` is echoed in the response
MAX_JSON_DEPTH: Final = 32  # deeper payloads are refused before anything else
# streamer/add: `burst` adds at once, then one more every interval (with service.max_streamers).
STREAMER_ADD_BURST: Final = 10
STREAMER_ADD_INTERVAL_S: Final = 6.0
# A simulated gift streak of any count is sent as at most this many combo updates plus the
# final message (TikTok also skips counts when combos are fast): bounded work per request.
MAX_STREAK_MESSAGES: Final = 20

MAX_CHAT_CHARS: Final = 500  # chat_send.max_length cannot be set higher
_TEXT_CHARS = 500
_VIEWER = "The simulated viewer's handle (also the nickname)."


@section("`bridge/request/chat/send` and `<base_topic>/<user>/chat/send`.")
class ChatSendRequest:
    user: str = setting(
        doc="The streamer (as in `streamers[].user`).",
        normalize=normalise_user,
        max_length=64,
        pattern=USER_PATTERN,
        pattern_doc=USER_DOC,
        rule=user_problem,
    )
    message: str = setting(
        doc="The text to post; newlines become spaces, other control characters are "
        "removed. `chat_send.max_length` of the streamer applies too.",
        min_length=1,
        max_length=MAX_CHAT_CHARS,
        numbers=False,  # 42 or true is not a message: send "42"
        controls=True,
    )


@section(
    "`bridge/request/goals/reset` and `<base_topic>/<user>/goals/reset`: the progress of a "
    "goal starts over from now (the target stays)."
)
class GoalsResetRequest:
    user: str = setting(
        doc="The streamer (as in `streamers[].user`).",
        normalize=normalise_user,
        max_length=64,
        pattern=USER_PATTERN,
        pattern_doc=USER_DOC,
        rule=user_problem,
    )
    goal: Literal["all", GoalName] = setting(
        default="all", doc="The goal to start over; `all` for every goal."
    )


def _viewer() -> Any:
    return setting(default="viewer", doc=_VIEWER, min_length=1, max_length=64)


def _text(default: str, doc: str) -> Any:
    return setting(default=default, doc=doc, min_length=1, max_length=_TEXT_CHARS)


@section("`chat`: a chat message.")
class SimChat:
    viewer: str = _viewer()
    text: str = _text("hello", "The message.")


@section("`gift`: a gift; a streakable gift is a streak of combo updates and a final event.")
class SimGift:
    viewer: str = _viewer()
    gift: str = setting(
        default="5655",
        doc="Gift id or catalogue name (`Rose`, `5655`).",
        min_length=1,
        max_length=64,
    )
    # A real streak rarely passes a few hundred; 10,000 leaves room for gift packs.
    count: int = setting(
        default=1, doc="How many of the gift (the streak's final count).", minimum=1, maximum=10_000
    )
    diamonds: int | None = setting(
        default=None,
        doc="Diamonds of one gift, for gifts outside the catalogue (sent as one finished streak).",
        minimum=0,
        maximum=100_000,
    )


@section("`like`: a batch of likes.")
class SimLike:
    viewer: str = _viewer()
    # TikTok batches at most about 15 likes per message.
    count: int = setting(default=1, doc="Likes in this batch.", minimum=1, maximum=1000)
    total: int = setting(
        default=0, doc="The room's like total after it.", minimum=0, maximum=10**12
    )


@section("`member`: a viewer joins.")
class SimMember:
    viewer: str = _viewer()
    member_count: int = setting(default=0, doc="Viewers in the room.", minimum=0, maximum=10**9)


@section("`follow`: a viewer follows the streamer.")
class SimFollow:
    viewer: str = _viewer()
    follow_count: int = setting(
        default=0, doc="The streamer's follower count.", minimum=0, maximum=10**10
    )


@section("`share`: a viewer shares the stream.")
class SimShare:
    viewer: str = _viewer()


@section("`subscribe`: a viewer subscribes.")
class SimSubscribe:
    viewer: str = _viewer()
    months: int = setting(default=1, doc="Months subscribed.", minimum=1, maximum=1200)


@section("`question`: a viewer asks a question.")
class SimQuestion:
    viewer: str = _viewer()
    text: str = _text("a question?", "The question.")


@section("`emote`: a viewer sends an emote.")
class SimEmote:
    viewer: str = _viewer()
    emote_id: str = setting(
        default="1",
        doc="The emote's id.",
        pattern=r"[A-Za-z0-9_-]{1,64}",
        pattern_doc="letters, digits, _ and - (1 to 64)",
    )


@section("`envelope`: a treasure chest.")
class SimEnvelope:
    viewer: str = _viewer()
    diamonds: int = setting(default=100, doc="Diamonds in the chest.", minimum=0, maximum=10**7)


@section("`viewers`: a viewer count update (retained state, not an event).")
class SimViewers:
    current: int = setting(default=1, doc="Viewers now.", minimum=0, maximum=10**9)
    total: int = setting(default=1, doc="Viewers since the start.", minimum=0, maximum=10**10)


@section("`intro`: the stream's intro text.")
class SimIntro:
    text: str = _text("welcome", "The intro.")


@section("`pin`: a pinned chat message.")
class SimPin:
    viewer: str = _viewer()
    text: str = _text("pinned", "The pinned message.")


@section("`battle`: a battle starts.")
class SimBattle:
    battle_id: int = setting(default=1, doc="The battle's id.", kind=Id())


@section("`stream`: the stream is paused, resumed or ended (published only).")
class SimStream:
    kind: Literal["paused", "resumed", "ended"] = setting(
        default="paused", doc="What happens (a simulated end does not end the real stream)."
    )


SIMULATE_TYPES: Final[dict[str, type]] = {
    "chat": SimChat,
    "gift": SimGift,
    "like": SimLike,
    "member": SimMember,
    "follow": SimFollow,
    "share": SimShare,
    "subscribe": SimSubscribe,
    "question": SimQuestion,
    "emote": SimEmote,
    "envelope": SimEnvelope,
    "viewers": SimViewers,
    "intro": SimIntro,
    "pin": SimPin,
    "battle": SimBattle,
    "stream": SimStream,
}
