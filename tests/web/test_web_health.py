"""Liveness, readiness and secrecy of the HTTP face: /healthz names dead loops, /readyz names
the failing check (a source, the store), and no response ever shows configuration (invariant 6)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks.webhooks import Webhook

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Lane
from monitor.core.errors import PollFailure
from monitor.core.lease_name import LeaseName
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper
from monitor.service import Service
from monitor.simulator import Simulator
from monitor.store.memory import MemoryStore
from monitor.watch.poller import Poller
from monitor.web.server import create_app
from tests.support.delivery_helpers import SECRET, GatedStore, redis_on_port
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

ENDPOINTS = ("/metrics", "/healthz", "/readyz", "/api/v1/live", "/")
CANVAS_TOKEN = "canvas-tok-7Qx9-SECRET"
HOOK_PATH = "/services/T0KEN-IN-PATH-b7f3"
REDIS_PASSWORD = "redis-pw-Zk41-SECRET"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


async def answer(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


def check(body: Any, name: str) -> dict[str, Any]:
    (found,) = [c for c in body["checks"] if c["name"] == name]
    assert isinstance(found, dict)
    return found


# /healthz on a bare app, with the real Service's bookkeeping


def service_with(pollers: list[Poller], tasks: dict[str, asyncio.Task[None]]) -> Service:
    sources = [p.source for p in pollers]
    settings = settings_for(tuple(sources) or (source_config("http://127.0.0.1:9"),))
    store, metrics = MemoryStore(), Metrics([s.name for s in sources], [])
    leases = LeaseKeeper(
        store, "test-replica", [LeaseName.source(s.name) for s in sources], 15.0, metrics
    )
    service = Service(settings, store, metrics, pollers, leases)
    service.tasks.update(tasks)
    return service


def poller(session: aiohttp.ClientSession, metrics: Metrics, interval: float = 0.5) -> Poller:
    source = source_config("http://127.0.0.1:9")
    client = CanvasClient(session, source, Lane(source.rate_limit), metrics)
    return Poller(source, client, MemoryStore(), metrics, interval=interval)


async def forever() -> None:
    await asyncio.Event().wait()


async def test_healthz_names_a_loop_that_died(http: aiohttp.ClientSession) -> None:
    async def quits() -> None:
        return None

    finished = asyncio.create_task(quits())
    alive = asyncio.create_task(forever())
    await finished
    service = service_with([], {"sink:ops": finished, "housekeeping": alive})
    try:
        async with TestClient(TestServer(create_app(service))) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            assert await response.json() == {"status": "failing", "dead_loops": ["sink:ops"]}
            alive.cancel()
            service.tasks.pop("sink:ops")
            await asyncio.gather(alive, return_exceptions=True)
            response = await client.get("/healthz")
            assert response.status == 503
            assert (await response.json())["dead_loops"] == ["housekeeping"]
    finally:
        alive.cancel()


async def test_healthz_names_a_poller_that_stopped_beating(http: aiohttp.ClientSession) -> None:
    stuck = poller(http, Metrics(["main"], []))
    task = asyncio.create_task(forever())  # the loop still runs, but no longer polls
    service = service_with([stuck], {"poller:main": task})
    try:
        async with TestClient(TestServer(create_app(service))) as client:
            response = await client.get("/healthz")
            assert response.status == 200
            assert await response.json() == {"status": "ok", "dead_loops": []}
            allowance = stuck.interval + stuck.source.poll_timeout + 30
            stuck.heartbeat = time.monotonic() - allowance - 1
            response = await client.get("/healthz")
            assert response.status == 503
            assert (await response.json())["dead_loops"] == ["poller:main"]
    finally:
        task.cancel()


async def test_readyz_allows_three_intervals_without_a_success(
    http: aiohttp.ClientSession,
) -> None:
    source = poller(http, Metrics(["main"], []), interval=1.0)  # the limit: 3 intervals = 3 s
    service = service_with([source], {})
    async with TestClient(TestServer(create_app(service))) as client:
        source.last_success = time.monotonic() - 2.0
        source.failing = PollFailure.AUTH
        source.last_error = "/api/v1/conferences: 401 Invalid access token."
        response = await client.get("/readyz")
        assert response.status == 200
        assert check(await response.json(), "source:main") == {
            "name": "source:main",
            "ok": True,
            "failing": "auth",
            "error": "/api/v1/conferences: 401 Invalid access token.",
        }
        source.last_success = time.monotonic() - 4.0
        response = await client.get("/readyz")
        assert response.status == 503
        found = check(await response.json(), "source:main")
        assert found["ok"] is False
        assert found["failing"] == "auth"
        assert "ago" in found["detail"]


# /readyz on the running service


async def test_readyz_before_and_after_the_first_poll(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    store = GatedStore(MemoryStore())  # the loops start when the gate opens
    async with running(settings_for((source_config(sim.url),)), store=store) as service:
        status, body = await answer(http, f"{service.url}/readyz")
        assert status == 503
        assert body["ready"] is False
        assert check(body, "store")["ok"] is True
        assert check(body, "source:main") == {
            "name": "source:main",
            "ok": False,
            "detail": "no successful poll yet",
        }
        store.gate.set()
        body = await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
        async with http.get(f"{service.url}/readyz") as response:
            assert response.status == 200
    assert all(c["ok"] for c in body["checks"])
    assert {c["name"] for c in body["checks"]} == {"store", "source:main"}


async def test_readyz_fails_when_canvas_answers_401_for_three_intervals(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    settings = settings_for((source_config(sim.url),), poll_interval=0.2)
    async with running(settings) as service:
        await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
        sim.world.revoke_token("sim-token")
        body = await until(
            lambda: get_json(http, f"{service.url}/readyz"), lambda r: not r["ready"]
        )
        status, _ = await answer(http, f"{service.url}/readyz")
    assert status == 503
    assert check(body, "store")["ok"] is True
    found = check(body, "source:main")
    assert found["ok"] is False
    assert found["failing"] == "auth"
    assert "last successful poll" in found["detail"]
    assert found["error"] == "/api/v1/conferences: 401 Revoked access token."


async def test_readyz_names_an_unreachable_store_and_the_service_waits_for_it(
    sim: Simulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    async with running(settings_for((source_config(sim.url),), state_url=url)) as service:
        status, body = await answer(http, f"{service.url}/readyz")
        assert status == 503
        store = check(body, "store")
        assert store["ok"] is False
        assert f"127.0.0.1:{port}" in store["detail"]
        assert REDIS_PASSWORD not in json.dumps(body)
        assert check(body, "source:main")["ok"] is False
        status, _ = await answer(http, f"{service.url}/healthz")
        assert status == 200  # waiting for the store is alive, not dead

        async with redis_on_port(port, REDIS_PASSWORD, tmp_path):
            body = await until(
                lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"]
            )
    assert check(body, "store") == {"name": "store", "ok": True}


# invariant 6


async def test_no_response_shows_configuration_or_secrets(
    sim: Simulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    sim.world.add_token(CANVAS_TOKEN, 1)
    conf = sim.world.create_conference(title="Visible title")
    sim.world.start(conf.id)
    port = free_port()
    state_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    async with Receiver(path=HOOK_PATH) as hook:
        settings = settings_for(
            (source_config(sim.url, token=Secret(CANVAS_TOKEN), announce_existing=True),),
            (webhook_config(hook.url, secret=Secret(SECRET)),),
            state_url=state_url,
        )
        secrets = [CANVAS_TOKEN, HOOK_PATH, hook.url, SECRET, SECRET[6:], REDIS_PASSWORD, state_url]
        seen: list[str] = []
        async with running(settings) as service:

            async def everything() -> None:
                for path in ENDPOINTS:
                    async with http.get(f"{service.url}{path}") as response:
                        seen.append(f"{path} {response.status} {response.headers}\n")
                        seen.append(await response.text())

            await everything()  # the store is unreachable: /readyz explains why
            async with redis_on_port(port, REDIS_PASSWORD, tmp_path):
                (delivered,) = await hook.wait_for(1)
                await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
                await everything()  # running, with a live conference and a delivery
                sim.world.revoke_token(CANVAS_TOKEN)
                await until(
                    lambda: get_json(http, f"{service.url}/readyz"), lambda r: not r["ready"]
                )
                await everything()  # failing on a 401

    assert Webhook(SECRET).verify(delivered.body, delivered.headers)["type"] == (
        "conference.started"
    )
    everything_seen = "".join(seen)
    assert "Visible title" in everything_seen  # the pages did show what they should
    assert "ping failed" in everything_seen
    for value in secrets:
        assert value not in everything_seen, value
