"""``python -m bench.cluster_sim`` — the assignment of streamers to instances, on paper.

Weighted rendezvous hashing (bridge.cluster.rendezvous) for 10,000 streamers over 50
instances: how even the shares are (max/mean, min/mean, stddev/mean of load per unit of
weight) and how many streamers move when an instance joins or leaves, against the ideal
(the newcomer's share of the total weight; the leaver's own streamers). No Redis, no
timing: the same pure function every instance runs. Options: --streamers, --instances.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from dataclasses import dataclass

from bridge.cluster.rendezvous import assign


@dataclass(frozen=True)
class Balance:
    scenario: str
    instances: int
    streamers: int
    max_over_mean: float  # of streamers per unit of weight
    min_over_mean: float
    cv: float  # stddev / mean of streamers per unit of weight


@dataclass(frozen=True)
class Movement:
    scenario: str
    moved: int
    fraction: float
    ideal: float
    only_necessary: bool  # every moved streamer went to the newcomer / came from the leaver


def weights_equal(n: int) -> dict[str, float]:
    return {f"bridge-{i:02d}": 1.0 for i in range(n)}


def weights_mixed(n: int) -> dict[str, float]:
    """Half small hosts (1), 40 % medium (2), 10 % large (4)."""
    out: dict[str, float] = {}
    for i in range(n):
        out[f"bridge-{i:02d}"] = 1.0 if i < n * 0.5 else (2.0 if i < n * 0.9 else 4.0)
    return out


def streamer_names(n: int) -> list[str]:
    return [f"streamer_{i:05d}" for i in range(n)]


Assignment = dict[str, str]


def balance(scenario: str, weights: dict[str, float], base: Assignment) -> Balance:
    counts = Counter(base.values())
    per_weight = [counts.get(m, 0) / w for m, w in weights.items()]
    mean = statistics.fmean(per_weight)
    return Balance(
        scenario,
        len(weights),
        len(base),
        max(per_weight) / mean,
        min(per_weight) / mean,
        statistics.pstdev(per_weight) / mean,
    )


def join(scenario: str, weights: dict[str, float], before: Assignment, weight: float) -> Movement:
    keys = list(before)
    newcomer = "bridge-new"
    after = assign(keys, {**weights, newcomer: weight})
    moved = [k for k in keys if before[k] != after[k]]
    ideal = weight / (sum(weights.values()) + weight)
    return Movement(
        scenario,
        len(moved),
        len(moved) / len(keys),
        ideal,
        all(after[k] == newcomer for k in moved),
    )


def leave(scenario: str, weights: dict[str, float], before: Assignment, leaver: str) -> Movement:
    keys = list(before)
    after = assign(keys, {m: w for m, w in weights.items() if m != leaver})
    moved = [k for k in keys if before[k] != after[k]]
    ideal = weights[leaver] / sum(weights.values())
    return Movement(
        scenario,
        len(moved),
        len(moved) / len(keys),
        ideal,
        all(before[k] == leaver for k in moved),
    )


def run(streamers: int = 10_000, instances: int = 50) -> tuple[list[Balance], list[Movement]]:
    keys = streamer_names(streamers)
    equal, mixed = weights_equal(instances), weights_mixed(instances)
    large = max(mixed, key=lambda m: (mixed[m], m))
    base_equal, base_mixed = assign(keys, equal), assign(keys, mixed)
    balances = [
        balance("equal weights", equal, base_equal),
        balance("mixed 1/2/4", mixed, base_mixed),
    ]
    moves = [
        join("equal: one joins", equal, base_equal, 1.0),
        leave("equal: one leaves", equal, base_equal, "bridge-00"),
        join("mixed: a weight-2 joins", mixed, base_mixed, 2.0),
        leave("mixed: a weight-4 leaves", mixed, base_mixed, large),
    ]
    return balances, moves


def render(balances: list[Balance], moves: list[Movement]) -> str:
    lines = [
        "| scenario | instances | streamers | max/mean | min/mean | stddev/mean |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for b in balances:
        lines.append(
            f"| {b.scenario} | {b.instances} | {b.streamers:,} | {b.max_over_mean:.3f} "
            f"| {b.min_over_mean:.3f} | {b.cv:.3f} |"
        )
    lines += [
        "",
        "| change | moved | fraction | ideal | moved/ideal | only the necessary |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in moves:
        lines.append(
            f"| {m.scenario} | {m.moved:,} | {m.fraction:.4f} | {m.ideal:.4f} "
            f"| {m.fraction / m.ideal:.2f} | {'yes' if m.only_necessary else 'NO'} |"
        )
    lines.append("")
    lines.append("Load is streamers per unit of weight; the ideal movement is the changed")
    lines.append("instance's share of the total weight.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streamers", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=50)
    args = parser.parse_args()
    print(render(*run(args.streamers, args.instances)))


if __name__ == "__main__":
    main()
