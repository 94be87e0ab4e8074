"""Two replicas watching one institution: the lease moves mid-run without a double or a missed
start. Real ``conference-monitor run`` processes, one real Redis, the simulator's university,
one webhook receiver."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from monitor.simulator import Simulator, World
from monitor.simulator.builder import InstitutionPlan
from tests.replicas.test_replica_processes import Replica, machine
from tests.support.cli import clean_env, write
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port
from tests.support.service import until

pytestmark = pytest.mark.e2e

CAMPUS = InstitutionPlan(accounts=(2, 2), courses=60, seed=3)


def config(canvas: str, redis_url: str, hook: str, port: int) -> str:
    return (
        "poll_interval: 0.5\n"
        f"state_url: {redis_url}\n"
        f"listen: 127.0.0.1:{port}\n"
        "lease_ttl: 3\n"
        "sources:\n"
        "  - name: campus\n"
        f"    base_url: {canvas}\n"
        "    token: admin-token\n"
        "    accounts: [1]\n"
        "    request_timeout: 2\n"
        "    poll_timeout: 5\n"
        "sinks:\n"
        "  - name: ops\n"
        "    type: webhook\n"
        f"    url: {hook}\n"
    )


async def start(tmp_path: Path, text: str, port: int, name: str) -> Replica:
    path = write(tmp_path, text, f"{name}.yaml")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "monitor", "run", "--config", str(path)),
        env=clean_env(**machine(tmp_path, name, name)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Replica(proc, port)


def starts(hook: Receiver) -> dict[int, set[str]]:
    """The event ids of the ``conference.started`` events delivered, by conference."""
    ids: dict[int, set[str]] = defaultdict(set)
    for request in hook.delivered:
        body = request.json
        if body["type"] == "conference.started":
            ids[body["data"]["conference"]["id"]].add(request.event_id)
    return ids


async def test_a_takeover_mid_sweep_neither_doubles_nor_misses_a_start(
    tmp_path: Path, redis_url: str
) -> None:
    world = World()
    world.build_institution(CAMPUS)
    now = world.now()
    running = [  # courses where students take part now: swept, not dormant
        c.id
        for c in world.catalog.all()
        if c.workflow_state == "available"
        and (c.start_at is None or c.start_at <= now)
        and (c.end_at is None or now < c.end_at)
    ]
    assert len(running) >= 8
    async with Simulator(world) as sim, Receiver() as hook:
        replicas = []
        for name in ("node-a", "node-b"):
            port = free_port()
            text = config(sim.url, redis_url, hook.url, port)
            replicas.append(await start(tmp_path, text, port, name))
        try:
            for replica in replicas:
                await replica.logged("listening", within=20)
            (active,) = await until(
                lambda: asyncio.sleep(0.1, [r for r in replicas if r.events("discovered")]),
                lambda found: len(found) == 1,
                20,
            )
            standby = next(r for r in replicas if r is not active)
            started: list[int] = []

            async def start_one(course: int) -> None:
                conference = world.create_conference(context_id=course, participants=[77])
                world.start(conference.id)
                started.append(conference.id)

            for course in running[:4]:
                await start_one(course)
            await hook.wait_for(4, within=20)
            active.proc.send_signal(signal.SIGKILL)
            for course in running[4:8]:  # while the lease moves, and after
                await start_one(course)
                await asyncio.sleep(0.5)
            await standby.logged("takeover", within=20)
            await until(  # redeliveries after the takeover count once: wait for every start
                lambda: asyncio.sleep(0.2, set(starts(hook))),
                lambda told: told >= set(started),
                30,
            )
        finally:
            for replica in replicas:
                if replica.proc.returncode is None:
                    replica.proc.send_signal(signal.SIGTERM)
                await replica.exited(15)
    ids = starts(hook)
    assert set(ids) == set(started)  # every start, and only those
    assert all(len(found) == 1 for found in ids.values()), ids  # one event each
