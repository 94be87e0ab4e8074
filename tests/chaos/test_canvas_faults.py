"""Canvas failing every way it can while conferences churn: not one false event, and the next
clean poll recovers.

A hundred and five conferences are live from the start (silently baselined), so the live list
has two pages and the churning conferences sit on the first: a monitor that took a failed,
truncated or half-read pagination for a complete one would end the conferences of page two,
events the ground truth does not have.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from monitor.simulator import Simulator
from tests.chaos.cluster import Cluster
from tests.chaos.conftest import MakeCluster
from tests.chaos.truth import Churn, TruthWorld
from tests.chaos.verdict import exact
from tests.support.receiver import Receiver
from tests.support.service import until

pytestmark = pytest.mark.chaos

LIVE = "/api/v1/conferences"
HOLD = 1.5  # seconds each fault lasts: several polls of each source meet it
BACKGROUND = 105  # live all along: two pages of the live list
FAILURES = "conference_monitor_poll_failures_total"


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str = "status"
    path: str = LIVE
    options: dict[str, Any] = field(default_factory=dict)
    fails_polls: bool = True  # a confirmation failure or a bad record does not fail the poll
    throttle: dict[str, Any] | None = None  # instead of a rule: the throttle set tight

    def inject(self, sim: Simulator) -> None:
        if self.throttle is not None:
            sim.throttle.configure(self.throttle)
        else:
            sim.faults.add(self.kind, self.path, times=None, **self.options)


TIGHT = {"high_water_mark": 100, "up_front_cost": 50, "request_cost": 60, "outflow": 10}
MATRIX = (
    Fault("500", options={"status": 500}),
    Fault("503", options={"status": 503}),
    Fault("502 html page", "html", options={"status": 502}),
    Fault("timeout", "timeout"),
    Fault("connection reset", "reset"),
    Fault("malformed json", "bad_json"),
    Fault("wrong shape", "wrong_shape", options={"shape": "missing"}),
    Fault("truncated body", "truncated"),
    Fault("page 2 truncated", "truncated", options={"page": 2}),
    Fault("page 2 500", options={"status": 500, "page": 2}),
    Fault("page 2 malformed", "bad_json", options={"page": 2}),
    Fault("page 2 reset", "reset", options={"page": 2}),
    Fault("401", options={"status": 401}),
    Fault("records without ids", "bad_record", fails_polls=False),
    Fault("confirmations 500", path="/api/v1/courses", fails_polls=False),
    Fault("throttled 403", throttle={**TIGHT, "mode": "403"}),
    Fault("throttled 429", throttle={**TIGHT, "mode": "429", "retry_after": True}),
)


@pytest.mark.timeout(240)
async def test_canvas_faults_make_no_false_events(
    make_cluster: MakeCluster,
    sim: Simulator,
    world: TruthWorld,
    receiver: Receiver,
    rng: random.Random,
) -> None:
    background = [world.create_conference(title=f"always live {i}") for i in range(BACKGROUND)]
    for conference in background:
        world.start(conference.id)
    cluster = await make_cluster(("a", "b"))
    # Each state outlasts a fault, the wait for its first failed poll and the recovery (a
    # throttled lane slows every poll down for a few seconds), so the truth stays observable.
    churn = Churn(world, 20, dwell=25, rng=rng)
    recoveries: dict[str, float] = {}
    async with churn.running():
        for fault in MATRIX:
            failures = await cluster.every(FAILURES)
            fault.inject(sim)
            await asyncio.sleep(HOLD)  # the fault's duration: polls meet it meanwhile
            if fault.fails_polls:  # (a poll retries a while before it gives up)
                await until(lambda: cluster.every(FAILURES), more_than(failures), 10)
            sim.faults.clear()
            sim.throttle.reset()
            cleared = time.time()
            for source in cluster.layout.sources:
                await until(partial(polled, cluster, source), after(cleared), 10)
            recoveries[fault.name] = time.time() - cleared
    assert await cluster.every("conference_monitor_invalid_records_total") > 0
    tally = await exact(cluster, receiver, world, excluding={c.id for c in background})
    slowest = max(recoveries, key=lambda name: recoveries[name])
    print(  # noqa: T201
        f"canvas faults: {len(MATRIX)} kinds, {HOLD}s each; a clean poll of every source"
        f" {min(recoveries.values()):.2f}-{recoveries[slowest]:.2f}s after clearing"
        f" (slowest: {slowest}); {tally}"
    )


async def polled(cluster: Cluster, source: str) -> float:
    """When (wall clock) some replica last polled ``source`` successfully."""
    stamp: float = await cluster.highest(
        "conference_monitor_last_successful_poll_timestamp_seconds", source=source
    )
    return stamp


def more_than(count: float) -> Callable[[float], bool]:
    return lambda now: now > count


def after(moment: float) -> Callable[[float], bool]:
    return lambda stamp: stamp > moment
