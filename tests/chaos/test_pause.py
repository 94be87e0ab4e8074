"""A leader paused (SIGSTOP) in the middle of a poll, past its lease, then resumed (SIGCONT):
the commit it goes on to make is refused by the fencing token, and nothing of it lands.

The set-up makes the stale commit certain. The leader's listing request is held at the
simulator (a ``slow`` fault); conference X goes live, the leader is stopped, and the answer,
which shows X live, is written into its socket while it sleeps. X ends before the other replica
can take the lease, so no one else ever sees it live. When the old leader wakes it reads the
answer, diffs, and commits "X started" under its old token: if that commit landed, X would be
announced. It must be refused, logged, and X never announced.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from monitor.simulator import Simulator
from tests.chaos.cluster import Metrics, token_for, value
from tests.chaos.conftest import MakeCluster
from tests.chaos.processes import RedisProcess, Replica
from tests.chaos.truth import Churn, TruthWorld
from tests.chaos.verdict import exact
from tests.support.receiver import Receiver
from tests.support.service import until

pytestmark = pytest.mark.chaos

TTL = 4.5  # the store keeps a heartbeat (and so its leases) 3 s past its last one, every 1.5 s
HOLD = 0.4  # how long the simulator holds the paused leader's request
POLL_FAILURES = "conference_monitor_poll_failures_total"
LEASE_CHANGES = "conference_monitor_lease_transitions_total"


@pytest.mark.timeout(120)
async def test_a_paused_leaders_stale_commit_is_refused(  # noqa: PLR0917 - fixtures
    make_cluster: MakeCluster,
    sim: Simulator,
    world: TruthWorld,
    receiver: Receiver,
    redis_process: RedisProcess,
    rng: random.Random,
) -> None:
    cluster = await make_cluster(
        ("a", "b"), sources=("main",), lease_ttl=TTL, request_timeout=30, poll_timeout=30
    )
    churn = Churn(world, 10, dwell=600, rng=rng)  # each conference changes once, by hand
    for _ in range(6):  # some history before the pause, checked at the end like the rest
        churn.one()
    await receiver.wait_for(6, within=10)
    x = world.create_conference(title="seen only by the paused leader").id
    old = await cluster.leader("main")
    new = next(r for r in cluster.replicas.values() if r is not old)

    # Hold the leader's next listing at the simulator; X goes live; the leader is stopped.
    rule = sim.faults.add("slow", "/api/v1/conferences", delay=HOLD, times=1)
    await until(lambda: remaining(sim, rule), lambda left: left == 0, 5)
    world.start(x)
    paused_at = time.monotonic()
    old.pause()
    # The simulator answers (X live) into the stopped leader's socket; then X ends.
    await until(answered(world, old.name, paused_at), bool, 5)
    world.end(x)
    assert not world.requests_by(token_for(new.name), since=paused_at), "polled too early"

    # The other replica takes the source over and polls; it never sees X.
    await until(lambda: cluster.leaders("main"), lambda held: held == [new], 3 * TTL)
    await until(answered(world, new.name, paused_at), bool, 5)
    took_over = min(world.requests_by(token_for(new.name), since=paused_at)) - paused_at

    old.resume()
    await until(lambda: refused_by(old), bool, 10)
    # Its metrics say so too: a failed poll (store), and the lease lost.
    metrics = await until(lambda: cluster.metrics(old), lost_lease, 10)
    assert value(metrics, POLL_FAILURES, source="main", reason="store") >= 1

    # Nothing of the stale poll landed: X is neither tracked nor in the outbox.
    client = aioredis.Redis.from_url(redis_process.url)
    try:
        assert not await client.hexists("ccm:{main}:tracked", str(x))
        outbox: Any = await client.xrange("ccm:{main}:outbox")
        assert all(b"seen only by the paused leader" not in fields[b"body"] for _, fields in outbox)
    finally:
        await client.aclose()

    # Life goes on: more churn, delivered exactly, and X never announced.
    for _ in range(4):
        churn.one()
    tally = await exact(cluster, receiver, world, excluding={x})
    refused = await refused_by(old)
    print(  # noqa: T201
        f"pause: {old.name} stopped mid-poll for {time.monotonic() - paused_at:.1f}s"
        f" (lease_ttl {TTL}s); {new.name} polled {took_over:.2f}s after the pause;"
        f" refused commits: {len(refused)} ({refused[0]['error']!r}); {tally}"
    )


def lost_lease(metrics: Metrics | None) -> bool:
    return bool(metrics) and value(metrics or {}, LEASE_CHANGES, lease="main", change="lost") >= 1


async def remaining(sim: Simulator, rule: int) -> int | None:
    return sim.faults.remaining(rule)


def answered(world: TruthWorld, replica: str, since: float) -> Callable[[], Awaitable[bool]]:
    """Has the simulator answered ``replica`` since ``since``?"""

    async def fetch() -> bool:
        return bool(world.requests_by(token_for(replica), since=since))

    return fetch


async def refused_by(replica: Replica) -> list[dict[str, str]]:
    """The replica's log lines saying a commit was refused by the fencing check."""
    lines = replica.log_lines()
    return [json.loads(x) for x in lines if '"poll_failed"' in x and "STALE fenced" in x]
