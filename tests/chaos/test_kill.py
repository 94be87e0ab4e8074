"""Replicas SIGKILLed while conferences churn: nothing lost, nothing invented, ids stable.

A kill can land anywhere: mid-poll, between a commit and its delivery, between a receiver's
200 and the acknowledgement (the event is sent again, with the same id and body), while the
replica holds a source's or the sink's lease (another takes it over within ``lease_ttl``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.chaos import knobs
from tests.chaos.cluster import token_for
from tests.chaos.conftest import MakeCluster
from tests.chaos.truth import Churn, TruthWorld
from tests.chaos.verdict import exact
from tests.support.receiver import Receiver
from tests.support.service import until

pytestmark = pytest.mark.chaos

TTL = 2.0
#: Each state is held longer than a replica's death, restart and lease handover take, so some
#: complete poll sees it.
DWELL = 3 * TTL


@pytest.mark.timeout(150 + 10 * knobs.ROUNDS)
async def test_sigkill_at_random_moments_loses_and_invents_nothing(
    make_cluster: MakeCluster, world: TruthWorld, receiver: Receiver, rng: random.Random
) -> None:
    cluster = await make_cluster(("a", "b", "c"), lease_ttl=TTL)
    replicas = list(cluster.replicas.values())
    churn = Churn(world, 15, dwell=DWELL, rng=rng)
    async with churn.running():
        for _ in range(knobs.ROUNDS):
            await asyncio.sleep(rng.uniform(0.1, 2.5))  # the random moment
            victim = rng.choice(replicas)
            await victim.kill()
            await asyncio.sleep(rng.uniform(0, 1.5 * TTL))  # sometimes its leases lapse first
            await victim.start()
    for replica in replicas:
        await cluster.until_ready(replica)
    tally = await exact(cluster, receiver, world)
    print(f"kill: {knobs.ROUNDS} SIGKILLs; {tally}")  # noqa: T201
    assert tally.transitions >= knobs.ROUNDS  # the churn really churned


TAKEOVER_TTL = 3.0


def polls_by(
    world: TruthWorld, tokens: set[str], since: float
) -> Callable[[], Awaitable[list[float]]]:
    """When the simulator answered any of ``tokens`` after ``since``."""

    async def fetch() -> list[float]:
        return [r.at for r in world.requests if r.token in tokens and r.at > since]

    return fetch


@pytest.mark.timeout(120 + 25 * knobs.TAKEOVERS)
async def test_a_killed_leader_is_replaced_within_the_lease_ttl(
    make_cluster: MakeCluster, world: TruthWorld, receiver: Receiver, rng: random.Random
) -> None:
    """One source, three replicas: each replica's Canvas token tells whose poll the simulator
    answers, so the gap between the old leader's last poll and its successor's first is
    measured where it matters, at Canvas."""
    cluster = await make_cluster(("a", "b", "c"), sources=("main",), lease_ttl=TAKEOVER_TTL)
    interval = cluster.layout.poll_interval
    churn = Churn(world, 10, dwell=2 * TAKEOVER_TTL, rng=rng)
    gaps: list[float] = []
    async with churn.running():
        for _ in range(knobs.TAKEOVERS):
            old = await cluster.leader("main")
            await asyncio.sleep(rng.uniform(0, 1.0))
            killed_at = time.monotonic()
            await old.kill()
            others = {token_for(name) for name in cluster.replicas if name != old.name}
            polls = polls_by(world, others, since=killed_at)
            first_new = min(await until(polls, bool, 3 * TAKEOVER_TTL))
            last_old = max(world.requests_by(token_for(old.name)))
            gaps.append(first_new - last_old)
            await old.start()
            await cluster.until_ready(old)
    tally = await exact(cluster, receiver, world)
    print(  # noqa: T201
        f"takeover: lease_ttl {TAKEOVER_TTL}s, poll_interval {interval}s; gaps between the old"
        f" leader's last poll and the new one's first: {', '.join(f'{g:.2f}s' for g in gaps)};"
        f" {tally}"
    )
    # Within the ttl, give or take the tick on which the new leader's poller notices its lease.
    assert max(gaps) <= TAKEOVER_TTL + interval, gaps
