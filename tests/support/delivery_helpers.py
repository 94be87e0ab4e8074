"""Helpers for the delivery and web tests: events, store wrappers, receivers, a runner harness."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError

from monitor.config.settings import SinkConfig
from monitor.core.diff import Answer, Confirmation, Outcome, diff
from monitor.core.errors import StoreError
from monitor.core.models import Event, SourceState
from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.sinks import WebhookSink
from monitor.observe.metrics import Metrics
from monitor.store.memory import MemoryStore
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import OutboxEntry
from tests.support.factories import NOW, conference, snapshot
from tests.support.receiver import Receiver
from tests.support.redis_server import redis_server_binary
from tests.support.service import webhook_config
from tests.support.store_wrappers import PassThroughStore
from tests.support.timings import QUICK

StoreFactory = Callable[[], Store]

#: A Standard Webhooks signing secret (32 fixed bytes) and a different one.
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()

#: Retries in milliseconds, so a test sees many of them quickly: four attempts in about 80 ms.
FAST_SCHEDULE = (0.0, 0.01, 0.02, 0.05)
#: As many quick retries as a receiver outage in a test lasts (about 5 s of them): what the old
#: retry-forever loop was to these tests.
PATIENT_SCHEDULE = (0.0, 0.01, 0.02, *(0.05,) * 100)


def started(source: str, *ids: int) -> Outcome:
    """A poll (after the baseline) that sees ``ids`` live."""
    previous = SourceState(baselined=True)
    return diff(source, previous, snapshot(*(conference(i) for i in ids)), {}, now=NOW)


def ended(source: str, previous: SourceState, *ids: int) -> Outcome:
    """The next poll: ``ids`` are gone and their context endpoint confirms ``ended_at``."""
    later = NOW + timedelta(minutes=3)
    stay = {cid: t.conference for cid, t in previous.tracked.items() if cid not in ids}
    confirmations = {
        cid: Confirmation(Answer.FOUND, conference(cid, ended_at=NOW + timedelta(minutes=2)))
        for cid in ids
    }
    return diff(source, previous, stay, confirmations, now=later)


def entry_of(event: Event, entry_id: str = "1-0") -> OutboxEntry:
    """The outbox entry a store would hand a sink for ``event``."""
    return OutboxEntry(entry_id, event.source, event.id, event.type, event.key, event.body())


class FakeClock:
    """A wall clock that moves only when told to (``step`` seconds per reading)."""

    def __init__(self, start: float, step: float = 0.0) -> None:
        self.now = start
        self.step = step
        self.readings: list[float] = []

    def __call__(self) -> float:
        value = self.now
        self.readings.append(value)
        self.now += self.step
        return value


@dataclass
class AckLog:
    """What a wrapped store saw acknowledged, and when (``time.monotonic()``)."""

    acked: list[tuple[str, float]] = field(default_factory=list)
    failed_acks: int = 0


class WrappedStore(PassThroughStore):
    """A real store whose ``ack`` can fail for a while, recording every acknowledgement."""

    def __init__(self, inner: Store, *, ack_failures: int = 0) -> None:
        super().__init__(inner)
        self.ack_failures = ack_failures  # the next N acks raise StoreError
        self.ack_down = False  # every ack raises until cleared
        self.log = AckLog()
        self.ack_attempted = asyncio.Event()

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        self.ack_attempted.set()
        if self.ack_down or self.ack_failures > 0:
            self.ack_failures = max(0, self.ack_failures - 1)
            self.log.failed_acks += 1
            raise StoreError("store unavailable (simulated outage)")
        await self.inner.ack(sink, entries)
        now = time.monotonic()
        self.log.acked.extend((entry.event_id, now) for entry in entries)


class GatedStore(WrappedStore):
    """``open_outbox`` waits for ``gate``: the service listens but no loop has started yet."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.gate = asyncio.Event()

    async def open_outbox(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        await self.gate.wait()
        await self.inner.open_outbox(sinks, sources)


class JitteryReceiver(Receiver):
    """A receiver that answers after a random (seeded) delay and fails some requests at random."""

    def __init__(self, rng: random.Random, *, max_delay: float, failure_rate: float) -> None:
        super().__init__()
        self._rng = rng
        self._max_delay = max_delay
        self._failure_rate = failure_rate

    async def _handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self._rng.uniform(0, self._max_delay))
        if self._rng.random() < self._failure_rate:
            self.fail_next += 1
        return await super()._handle(request)


@dataclass
class Harness:
    """A ``SinkRunner`` running in a task, with what a test needs to look at it."""

    runner: SinkRunner
    sink: WebhookSink
    metrics: Metrics
    stop: asyncio.Event
    task: asyncio.Task[None]

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, {"sink": self.runner.name, **labels})
        assert value is not None, f"{name} {labels} is not exported"
        return value

    async def finish(self, within: float = 5.0) -> float:
        """Set ``stop`` and wait for ``run`` to return; how long that took."""
        began = time.monotonic()
        self.stop.set()
        await asyncio.wait_for(self.task, within)
        return time.monotonic() - began


@asynccontextmanager
async def running_sink(
    config: SinkConfig,
    store: Store,
    http: aiohttp.ClientSession,
    *,
    grace: float = 1.0,
    seed: int = 7,
    clock: FakeClock | None = None,
    metrics: Metrics | None = None,
    timings: Timings = QUICK,
) -> AsyncIterator[Harness]:
    """Run one webhook ``SinkRunner`` on ``store`` (whose outbox must be open) until the end."""
    metrics = metrics if metrics is not None else Metrics(["main"], [config.name])
    sink = WebhookSink(config, http) if clock is None else WebhookSink(config, http, clock)
    rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
    runner = SinkRunner(sink, config, store, metrics, rng=rng, timings=timings)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop, grace))
    harness = Harness(runner, sink, metrics, stop, task)
    try:
        yield harness
    finally:
        stop.set()
        if not task.done():
            with contextlib.suppress(TimeoutError):  # the test failed already: keep its reason
                await asyncio.wait_for(task, grace + 5)


def fast_config(url: str, **overrides: object) -> SinkConfig:
    """A webhook sink that retries in milliseconds (``PATIENT_SCHEDULE`` unless overridden)."""
    return webhook_config(url, **{"retry_schedule": PATIENT_SCHEDULE, **overrides})


def secret(value: str = SECRET) -> Secret:
    return Secret(value)


@asynccontextmanager
async def store_factory(kind: str, redis_url: str | None) -> AsyncIterator[StoreFactory]:
    """Stores on one shared backing: a second instance is what a restarted process sees (for
    Redis: a new connection pool with the same consumer name, this replica after a restart)."""
    opened: list[Store] = []
    if kind == "memory":
        backing = MemoryStore()

        def factory() -> Store:
            return backing
    else:
        assert redis_url is not None

        def factory() -> Store:
            store = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
            opened.append(store)
            return store

    try:
        yield factory
    finally:
        for store in opened:
            await store.close()


async def open_outbox(factory: StoreFactory, *sinks: str) -> Store:
    """A store from ``factory`` whose outbox ``sinks`` (default ``ops``) consume from now on."""
    store = factory()
    await store.open_outbox(list(sinks) or ["ops"], ["main"])
    return store


async def backlog_is(store: Store, expected: int, sink: str = "ops", within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := await store.backlog(sink)) != expected:
        assert loop.time() < deadline, f"backlog of {sink} is {left}, not {expected}"
        await asyncio.sleep(0.02)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``check()`` holds (it looks at in-process state only)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def idle(runner: SinkRunner, within: float = 5.0) -> None:
    """Wait until ``runner`` holds no entry: each one it read was acknowledged or dead-lettered,
    none waits for a retry or a chat window. With an empty backlog, nothing is left that could
    make another request: the positive signal a test waits for before it asserts that nothing
    more was sent (rather than sleeping to leave "room for a duplicate")."""
    await eventually(lambda: runner.inflight == 0, within)


@asynccontextmanager
async def redis_on_port(port: int, password: str, directory: Path) -> AsyncIterator[None]:
    """A password-protected redis-server of our own on ``port`` (for store-outage tests)."""
    process = await asyncio.create_subprocess_exec(
        redis_server_binary(),
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        *("--dir", str(directory), "--requirepass", password),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = aioredis.Redis(port=port, password=password, socket_connect_timeout=0.2)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            try:
                await client.ping()
                break
            except RedisConnectionError:
                assert process.returncode is None, "redis-server exited"
                assert asyncio.get_running_loop().time() < deadline, "redis-server did not start"
                await asyncio.sleep(0.02)
        yield
    finally:
        await client.aclose()
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def commandstats(client: aioredis.Redis) -> Counter[str]:
    """Calls so far of each Redis command (``INFO commandstats``), by lower-case name."""
    stats = await client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()})
