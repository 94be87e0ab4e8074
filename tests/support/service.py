"""Run the whole service in-process, as `conference-monitor run` does, for integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.app import serve
from monitor.config.settings import Listen, Settings, SinkConfig, SinkType, SourceConfig
from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.delivery.sinks import Sink
from monitor.store.roles import Store
from tests.support.timings import QUICK

SIM_TOKEN = "sim-token"


def source_config(canvas_url: str, **overrides: object) -> SourceConfig:
    values: dict[str, object] = {
        "name": "main",
        "base_url": canvas_url,
        "token": Secret(SIM_TOKEN),
        "request_timeout": 2.0,
        "poll_timeout": 5.0,
    }
    values.update(overrides)
    return SourceConfig(**values)  # type: ignore[arg-type]


def webhook_config(url: str, **overrides: object) -> SinkConfig:
    values: dict[str, object] = {"name": "ops", "type": SinkType.WEBHOOK, "url": Secret(url)}
    values.update(overrides)
    return SinkConfig(**values)  # type: ignore[arg-type]


def settings_for(
    sources: tuple[SourceConfig, ...],
    sinks: tuple[SinkConfig, ...] = (),
    *,
    state_url: str = "memory://",
    poll_interval: float = 0.2,
) -> Settings:
    return Settings(
        sources=sources,
        sinks=sinks,
        poll_interval=poll_interval,
        state_url=Secret(state_url),
        listen=Listen("127.0.0.1", 0),
        shutdown_timeout=2.0,
    )


@dataclass
class Running:
    url: str  # the service's HTTP address
    stop: asyncio.Event
    task: asyncio.Task[None]


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    sinks: Mapping[str, Sink] | None = None,
    store: Store | None = None,
    replica: str | None = None,
    timings: Timings = QUICK,
) -> AsyncIterator[Running]:
    """Start ``serve`` in a task, yield once it listens, stop it gracefully on exit."""
    stop = asyncio.Event()
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            settings,
            stop,
            sinks=sinks,
            store=store,
            on_listening=listening.set_result,
            replica=replica,
            timings=timings,
        )
    )
    try:
        url = await asyncio.wait_for(asyncio.shield(listening), 10)
        yield Running(url, stop, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        return await response.json()


async def until(
    fetch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], within: float = 5.0
) -> Any:
    """Fetch repeatedly until ``ok(result)``; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await fetch()
        if ok(result):
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last: {result!r}")
        await asyncio.sleep(0.05)
