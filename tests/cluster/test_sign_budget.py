"""The sign server's budget is one for the whole cluster (one API key): the core's
SignBudget spends the shared bucket in Redis for sign calls, and only for those."""

from __future__ import annotations

from bridge.core.cluster import SignBudget
from tests.cluster.conftest import MakeNode


async def test_sign_calls_of_two_instances_share_one_bucket(make_node: MakeNode) -> None:
    a, b = await make_node("a"), await make_node("b")
    budget_a, budget_b = SignBudget(600), SignBudget(600)
    # Two tokens a minute for the whole cluster, both available at once.
    budget_a.shared = a.budget("sign", calls_per_minute=2, burst=2)
    budget_b.shared = b.budget("sign", calls_per_minute=2, burst=2)
    assert budget_b.shared is not None

    for _ in range(5):  # TikTok calls do not touch the shared bucket
        await budget_a.acquire("room_info")
    await budget_a.acquire("sign")
    await budget_a.acquire("sign")
    assert budget_a.calls["sign"] == 2

    # Instance b finds the cluster's budget spent: its next token is ~30 s away.
    wait = await budget_b.shared.try_acquire()
    assert 20 < wait <= 30
