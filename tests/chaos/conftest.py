"""The chaos suite: faults injected into real processes, checked against the simulator's truth.

Each scenario starts its own ``redis-server`` (append-only, on a free port below the ephemeral
range), monitor replicas as subprocesses (``python -m monitor run --config FILE``), the
simulator as the Canvas and a webhook receiver, all on 127.0.0.1, then kills, pauses and cuts
things while conferences churn, and compares the events the receiver got with the transitions
the simulated Canvas really made (``truth.py``).

**Running it.** The tests are marked ``chaos`` and are left out of a plain ``pytest`` run (they
are deselected, and the header says so) unless ``CHAOS=1`` is set:

    python3 dev.py chaos                       # the whole suite, defaults below
    CHAOS_ROUNDS=4 CHAOS_REDIS_OUTAGE=10 python3 dev.py chaos -k kill
    CHAOS=1 .venv/bin/pytest tests/chaos -x    # the same, by hand

How hard it pushes comes from the environment (``knobs.py``): ``CHAOS_ROUNDS``,
``CHAOS_TAKEOVERS``, ``CHAOS_REDIS_OUTAGE``, ``CHAOS_RECEIVER_OUTAGE``, ``CHAOS_SEED``. Each test
prints its seed and its figures (takeover gaps, refused commits, ...); ``-s`` shows them.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.simulator import Simulator
from tests.chaos import knobs
from tests.chaos.cluster import Cluster, Layout
from tests.chaos.processes import RedisProcess, stable_port
from tests.chaos.truth import TruthWorld
from tests.support.receiver import Receiver

ENABLED = os.environ.get("CHAOS") == "1"

MakeCluster = Callable[..., Awaitable[Cluster]]


def pytest_report_header() -> str:
    return "chaos suite: " + ("on" if ENABLED else "off (CHAOS=1 or `python3 dev.py chaos`)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]


@pytest.fixture
def rng() -> random.Random:
    seed = knobs.seed()
    print(f"chaos seed: CHAOS_SEED={seed}")  # noqa: T201
    return random.Random(seed)  # noqa: S311 - reproducible chaos, not cryptography


@pytest.fixture
def world() -> TruthWorld:
    return TruthWorld()


@pytest.fixture
async def sim(world: TruthWorld) -> AsyncIterator[Simulator]:
    async with Simulator(world) as simulator:
        yield simulator


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    hook.port = stable_port()  # it may go down and come back on the same port
    async with hook:
        yield hook


@pytest.fixture
async def redis_process(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis")
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
async def make_cluster(
    tmp_path: Path,
    sim: Simulator,
    receiver: Receiver,
    redis_process: RedisProcess,
) -> AsyncIterator[MakeCluster]:
    """Starts replicas (names, then ``Layout`` overrides) and waits until each is ready."""
    made: list[Cluster] = []

    async def make(names: tuple[str, ...] = ("a", "b", "c"), **overrides: Any) -> Cluster:
        layout = Layout(sim.url, receiver.url, redis_process.url, **overrides)
        cluster = Cluster(layout, tmp_path / f"cluster{len(made)}", names, sim.world)
        made.append(cluster)
        await cluster.start()
        return cluster

    yield make
    for cluster in made:
        cluster.dump_logs()
        await cluster.close()
