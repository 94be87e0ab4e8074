"""The receiver down for a long while (``CHAOS_RECEIVER_OUTAGE``, 20 s by default: half of it
answering 500, half refusing connections) while conferences churn, with a fast retry schedule:
every event arrives afterwards, none is dropped or dead-lettered."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.chaos import knobs
from tests.chaos.conftest import MakeCluster
from tests.chaos.truth import Churn, TruthWorld
from tests.chaos.verdict import exact
from tests.support.receiver import Receiver

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(150 + 2 * knobs.RECEIVER_OUTAGE)
async def test_a_receiver_down_for_long_gets_everything_after(
    make_cluster: MakeCluster, world: TruthWorld, receiver: Receiver, rng: random.Random
) -> None:
    cluster = await make_cluster(("a", "b"))
    churn = Churn(world, 10, dwell=2.0, rng=rng)
    async with churn.running():
        await asyncio.sleep(2.0)  # some events get through first
        receiver.down, receiver.fail_status = True, 500
        await asyncio.sleep(knobs.RECEIVER_OUTAGE / 2)
        await receiver.stop()  # connection refused
        await asyncio.sleep(knobs.RECEIVER_OUTAGE / 2)
        receiver.down = False
        await receiver.start()  # same port
    refused = sum(1 for r in receiver.requests if r.status == 500)
    tally = await exact(cluster, receiver, world, within=60)
    assert refused > 0, "the outage was never noticed"
    assert await cluster.every("conference_monitor_dead_letters") == 0
    print(  # noqa: T201
        f"receiver outage: {knobs.RECEIVER_OUTAGE:g}s ({refused} answers of 500, then"
        f" connections refused); {tally}"
    )
