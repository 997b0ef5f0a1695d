"""bridge.core.goals without a broker: goals follow the totals they are given, fire once,
restore only into the same stream; the leaderboard ranks, ties, cuts and stays bounded."""

from __future__ import annotations

from bridge.core.goals import MAX_TRACKED, NAME_CHARS, Leaderboard, StreamGoals, totals_of
from bridge.core.state import StreamerState
from bridge.events import User

T0 = 1_790_000_000.0  # unix seconds: the tests pass time in


def totals(likes: int = 0, diamonds: int = 0, follows: int = 0) -> dict[str, int]:
    return {"likes": likes, "diamonds": diamonds, "follows": follows}


def test_totals_are_the_state_counters() -> None:
    state = StreamerState()
    state.raise_likes(120)
    state.add_diamonds(7)
    state.add_follow()
    state.add_share()
    assert totals_of(state) == totals(120, 7, 1)


def test_a_goal_fires_once_then_again_after_reset_target_change_or_new_stream() -> None:
    goals = StreamGoals({"likes": 100, "diamonds": 0})
    goals.start(room_id=1)
    assert goals.check(totals(likes=99), T0) == []
    assert goals.check(totals(likes=100, diamonds=10**6), T0 + 1) == ["likes"]  # 0 = no goal
    assert goals.check(totals(likes=500), T0 + 2) == []
    state = goals.to_dict(totals(likes=500))
    assert state["likes"] == {"target": 100, "value": 500, "percent": 100.0, "reached": True,
                              "reached_at": "2026-09-21T14:13:21Z"}  # fmt: skip
    assert state["diamonds"]["percent"] is None and state["diamonds"]["reached"] is False

    goals.reset(["likes"], totals(likes=500))  # progress from now: value 0
    assert goals.to_dict(totals(likes=530))["likes"]["value"] == 30
    assert goals.check(totals(likes=599), T0 + 3) == []
    assert goals.check(totals(likes=600), T0 + 4) == ["likes"]

    assert goals.set_targets({"likes": 100}) == []  # unchanged: still reached
    assert goals.check(totals(likes=700), T0 + 5) == []
    assert goals.set_targets({"likes": 150}) == ["likes"]  # a new goal, already met
    assert goals.check(totals(likes=700), T0 + 6) == ["likes"]

    goals.start(room_id=2)
    assert goals.to_dict(totals())["likes"] == {"target": 150, "value": 0, "percent": 0.0,
                                                 "reached": False, "reached_at": None}  # fmt: skip


def test_percent_is_capped_and_rounded() -> None:
    goals = StreamGoals({"likes": 3, "follows": 1_000_000})
    goals.start(room_id=1)
    shown = goals.to_dict(totals(likes=1, follows=1))
    assert shown["likes"]["percent"] == 33.3 and shown["follows"]["percent"] == 0.0
    assert goals.to_dict(totals(likes=9))["likes"]["percent"] == 100.0


def test_the_goal_event_has_the_event_envelope() -> None:
    goals = StreamGoals({"follows": 2})
    goals.start(room_id=7330000000000000001)
    goals.check(totals(follows=2), T0 + 0.25)
    fan = User(id=7100000000000000042, unique_id="fan", nickname="Fan")
    event = goals.event("follows", totals(follows=2), fan)
    assert event == {
        "type": "goal", "event_type": "follows", "ts": "2026-09-21T14:13:20.250Z",
        "room_id": "7330000000000000001", "msg_id": "0", "user": fan.to_dict(),
        "target": 2, "value": 2,
    }  # fmt: skip


def test_a_restart_in_the_same_stream_keeps_reached_and_resets() -> None:
    before = StreamGoals({"likes": 100, "diamonds": 50})
    before.start(room_id=9)
    before.reset(["diamonds"], totals(diamonds=20))
    before.check(totals(likes=150, diamonds=20), T0)
    saved = before.snapshot()
    assert saved["room_id"] == "9"

    same = StreamGoals({"likes": 100, "diamonds": 50}, resume=saved)
    same.start(room_id=9)
    assert same.check(totals(likes=160, diamonds=60), T0 + 1) == []  # 60 - 20 < 50
    assert same.to_dict(totals(likes=160))["likes"]["reached"] is True

    edited = StreamGoals({"likes": 120, "diamonds": 50}, resume=saved)
    edited.start(room_id=9)  # another target: a new goal, reached anew
    assert edited.check(totals(likes=160), T0 + 1) == ["likes"]

    other = StreamGoals({"likes": 100, "diamonds": 50}, resume=saved)
    other.start(room_id=10)  # another stream: from zero
    assert other.check(totals(likes=160, diamonds=60), T0 + 1) == ["likes", "diamonds"]


def test_a_damaged_snapshot_is_ignored() -> None:
    for junk in ({"room_id": "9", "goals": "x"}, {"room_id": "9", "goals": {"likes": 3}},
                 {"room_id": "9", "goals": {"likes": {"baseline": "7", "reached_at": True,
                                                      "target": 100}}}):  # fmt: skip
        goals = StreamGoals({"likes": 100}, resume=junk)
        goals.start(room_id=9)
        assert goals.check(totals(likes=100), T0) == ["likes"]


def viewer(n: int, nickname: str | None = None) -> User:
    return User(id=7100000000000000000 + n, unique_id=f"v{n}", nickname=nickname or f"V {n}")


def test_leaderboard_ranks_by_diamonds_ties_by_who_came_first() -> None:
    board = Leaderboard(3)
    board.start(room_id=5)
    board.add(viewer(1), 10, 10)
    board.add(viewer(2), 30, 1)
    board.add(viewer(3), 10, 1)
    board.add(viewer(4), 5, 5)
    board.add(viewer(1, "V one"), 5, 5)  # renamed mid-stream: the latest name shows
    board.add(None, 100, 1)  # no user: nobody to rank
    board.add(viewer(5), 0, 1)  # a gift worth nothing
    assert board.to_dict() == {"room_id": "5", "top": [
        {"rank": 1, "user_id": "7100000000000000002", "unique_id": "v2", "nickname": "V 2",
         "diamonds": 30, "gifts": 1},
        {"rank": 2, "user_id": "7100000000000000001", "unique_id": "v1", "nickname": "V one",
         "diamonds": 15, "gifts": 15},
        {"rank": 3, "user_id": "7100000000000000003", "unique_id": "v3", "nickname": "V 3",
         "diamonds": 10, "gifts": 1},
    ]}  # fmt: skip
    version = board.version
    board.start(room_id=6)
    assert board.to_dict() == {"room_id": "6", "top": []} and board.version != version


def test_leaderboard_memory_is_bounded_and_names_are_cut() -> None:
    board = Leaderboard(10)
    board.add(viewer(0, "x" * 5000), 10**6, 1)
    for n in range(1, 5 * MAX_TRACKED):
        board.add(viewer(n), 1 + n % 7, 1)
    assert len(board._gifters) <= MAX_TRACKED
    top = board.to_dict()["top"]
    assert top[0]["nickname"] == "x" * NAME_CHARS and top[0]["diamonds"] == 10**6
    assert len(top) == 10 and all(t["diamonds"] <= 10**6 for t in top)
    off = Leaderboard(0)
    off.add(viewer(1), 10, 1)
    assert off.to_dict()["top"] == []
