"""End to end: the real `conference-monitor run` process, Redis, the simulator and a receiver.

Conferences start, end, restart and drop out of scope while the process is SIGKILLed in the
middle of deliveries and started again. The receiver must get every transition; a duplicate is
allowed (at-least-once) only with the same ``webhook-id`` and the same body.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from monitor.simulator import Simulator
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, base64


class Monitor:
    """The service as a separate process, started from a config file."""

    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, "HOSTNAME": "e2e-replica"}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(self.config),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await self.until_ready()

    async def until_ready(self, within: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        async with aiohttp.ClientSession() as http:
            while asyncio.get_running_loop().time() < deadline:
                try:
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the monitor did not become ready")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 15)


@pytest.fixture
async def monitor_process(
    tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[Monitor, Simulator, Receiver]]:
    async with Simulator() as sim, Receiver() as hook:
        port = free_port()
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f"""
poll_interval: 0.25
state_url: {redis_url}
listen: 127.0.0.1:{port}
shutdown_timeout: 1
sources:
  - name: main
    base_url: {sim.url}
    token: ${{E2E_CANVAS_TOKEN}}
    request_timeout: 2
    poll_timeout: 5
sinks:
  - name: ops
    type: webhook
    url: {hook.url}
    secret: {SECRET}
    timeout: 2
"""
        )
        os.environ["E2E_CANVAS_TOKEN"] = "sim-token"
        monitor = Monitor(config, port)
        try:
            yield monitor, sim, hook
        finally:
            os.environ.pop("E2E_CANVAS_TOKEN", None)
            if monitor.process is not None and monitor.process.returncode is None:
                monitor.process.kill()
                await monitor.process.wait()


def transitions(hook: Receiver) -> dict[str, tuple[str, int, bool, str | None]]:
    """Delivered events by webhook-id; every request's signature must verify."""
    verifier = Webhook(SECRET)
    seen: dict[str, tuple[str, int, bool, str | None]] = {}
    bodies: dict[str, bytes] = {}
    for request in hook.delivered:
        payload = verifier.verify(request.body, request.headers)
        key = (
            payload["type"],
            payload["data"]["conference"]["id"],
            payload["data"]["restart"],
            payload["data"]["reason"],
        )
        if request.event_id in seen:  # a duplicate must be the very same event
            assert seen[request.event_id] == key
            assert bodies[request.event_id] == request.body
        seen[request.event_id] = key
        bodies[request.event_id] = request.body
    return seen


async def delivered(hook: Receiver, count: int, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while len(transitions(hook)) < count:
        assert asyncio.get_running_loop().time() < deadline, sorted(transitions(hook).values())
        await asyncio.sleep(0.05)


async def test_every_transition_arrives_across_a_sigkill(
    monitor_process: tuple[Monitor, Simulator, Receiver],
) -> None:
    monitor, sim, hook = monitor_process
    world = sim.world
    a = world.create_conference(title="A")
    world.start(a.id)  # live before the monitor starts: the silent baseline
    await monitor.start()

    b = world.create_conference(title="B")
    c = world.create_conference(title="C")
    world.start(b.id)
    world.start(c.id)
    world.end(a.id)
    await delivered(hook, 3)

    # Deliveries are slow now, so the kill lands while some are in flight or not yet committed.
    hook.delay = 0.3
    world.end(b.id)
    extra = [world.create_conference(title=f"E{i}") for i in range(4)]
    for conference in extra:
        world.start(conference.id)
    await asyncio.sleep(0.4)
    await monitor.kill()

    # While it is down: D starts, C ends. Both must be seen after the restart.
    d = world.create_conference(title="D")
    world.start(d.id)
    world.end(c.id)
    hook.delay = 0.0
    await monitor.start()
    await delivered(hook, 3 + 1 + 4 + 2)

    world.restart(b.id)  # same id, same started_at: a new generation
    world.remove_participant(d.id, 1)  # still running, but the token no longer sees it
    await delivered(hook, 12)
    world.end(b.id)
    await delivered(hook, 13)
    assert await monitor.terminate() == 0

    expected = {
        ("conference.started", b.id, False, None),
        ("conference.started", c.id, False, None),
        ("conference.ended", a.id, False, "ended"),
        ("conference.ended", b.id, False, "ended"),
        *(("conference.started", e.id, False, None) for e in extra),
        ("conference.started", d.id, False, None),
        ("conference.ended", c.id, False, "ended"),
        ("conference.started", b.id, True, None),
        ("conference.ended", d.id, False, "out_of_scope"),
        ("conference.ended", b.id, True, "ended"),
    }
    got = transitions(hook)
    assert sorted(got.values(), key=repr) == sorted(expected, key=repr)  # one id per transition
