"""Redis stopped for a while (``CHAOS_REDIS_OUTAGE``, 30 s by default) and started again on the
same port, with its append-only file: the replicas stay up and say they are not ready, invent
nothing meanwhile, and afterwards resume from the state Redis kept and report what changed
during the outage."""

from __future__ import annotations

import asyncio
import time
from functools import partial

import pytest

from tests.chaos import knobs
from tests.chaos.conftest import MakeCluster
from tests.chaos.processes import RedisProcess
from tests.chaos.truth import TruthWorld
from tests.chaos.verdict import exact
from tests.support.receiver import Receiver
from tests.support.service import until

pytestmark = pytest.mark.chaos

CHECK_EVERY = 0.5  # how often the outage is looked at


@pytest.mark.timeout(150 + 2 * knobs.REDIS_OUTAGE)
async def test_redis_outage_costs_only_time(
    make_cluster: MakeCluster, world: TruthWorld, receiver: Receiver, redis_process: RedisProcess
) -> None:
    cluster = await make_cluster(("a", "b"))
    replicas = list(cluster.replicas.values())
    ids = [world.create_conference(title=f"outage {i}").id for i in range(10)]
    for cid in ids[:6]:
        world.start(cid)
    await receiver.wait_for(12, within=15)  # two sources
    before = len(receiver.requests)

    await redis_process.stop()
    down_at = time.monotonic()
    for replica in replicas:
        await until(partial(cluster.ready, replica), lambda ok: ok is False, 10)
    unready_after = time.monotonic() - down_at
    for cid in ids[:3]:  # ends and starts while Redis is away
        world.end(cid)
    for cid in ids[6:9]:
        world.start(cid)
    while time.monotonic() - down_at < knobs.REDIS_OUTAGE:
        for replica in replicas:
            assert replica.alive, f"{replica.name} died while Redis was down"
            assert await cluster.ready(replica) is False, f"{replica.name} claims to be ready"
        assert len(receiver.requests) == before, "something was sent while Redis was down"
        await asyncio.sleep(CHECK_EVERY)

    await redis_process.start()
    back_at = time.monotonic()
    for replica in replicas:
        await cluster.until_ready(replica, within=30)
    ready_after = time.monotonic() - back_at
    world.end(ids[3])  # and life goes on
    world.start(ids[9])
    tally = await exact(cluster, receiver, world)
    # Redis kept the state: nothing was rebuilt or re-baselined.
    assert await cluster.every("conference_monitor_state_resets_total") == 0
    print(  # noqa: T201
        f"redis outage: {knobs.REDIS_OUTAGE:g}s; /readyz 503 on every replica"
        f" {unready_after:.1f}s after the stop; ready again {ready_after:.1f}s after the"
        f" restart; {tally}"
    )
