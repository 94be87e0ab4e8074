"""Shared pieces for the Canvas client and poller tests: clocks, sessions, metrics, stores.

Everything here is real (the simulator, aiohttp sessions, both stores, ``ScriptedCanvas``: a
loopback server for answers the simulator does not give) except ``FlakyStore``, a pass-through
wrapper that can make ``commit`` fail the way a lost store connection does.
"""

from __future__ import annotations

import json
import random
import socket
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace, TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Lane
from monitor.config.settings import SourceConfig
from monitor.core.diff import Outcome
from monitor.core.errors import PollFailure, StoreError
from monitor.core.timings import PRODUCTION, Timings
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper
from monitor.simulator import Simulator, World
from monitor.store.roles import Store
from monitor.store.values import Fence
from monitor.watch.poller import Poller
from tests.support.service import source_config
from tests.support.store_wrappers import PassThroughStore
from tests.support.timings import QUICK

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
LIVE = "/api/v1/conferences"
SINK = "t"
#: ``random.Random(4)`` draws 0.236 then 0.206 as the first two backoffs: three attempts of a
#: persisting fault fit in half a second with the real backoff constants.
SMALL_DRAWS_SEED = 4


class FakeClock:
    """A settable wall clock shared by the simulated Canvas and the poller."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class LoopbackResolver(AbstractResolver):
    """Resolves every host name (in any case) to 127.0.0.1, so a test can use ``canvas.test``."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


@dataclass
class SentRequest:
    url: str
    headers: dict[str, str]
    link: str | None = None  # the answer's Link header, once it came


@dataclass
class Wiretap:
    """What the client really put on the wire and got back (aiohttp tracing, not a mock)."""

    sent: list[SentRequest] = field(default_factory=list)

    def config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def on_start(
            _session: aiohttp.ClientSession,
            _ctx: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            self.sent.append(SentRequest(str(params.url), dict(params.headers)))

        async def on_end(
            _session: aiohttp.ClientSession,
            _ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self.sent[-1].link = params.response.headers.get("Link")

        trace.on_request_start.append(on_start)
        trace.on_request_end.append(on_end)
        return trace


@asynccontextmanager
async def http_session(
    *, resolver: AbstractResolver | None = None, wiretap: Wiretap | None = None
) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(resolver=resolver) if resolver is not None else None
    traces = [wiretap.config()] if wiretap is not None else None
    async with aiohttp.ClientSession(connector=connector, trace_configs=traces) as session:
        yield session


def new_metrics() -> Metrics:
    return Metrics(["main"], [SINK])


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def failures(metrics: Metrics) -> dict[str, float]:
    """``poll_failures_total`` by reason, only the reasons that counted."""
    out: dict[str, float] = {}
    for family in metrics.poll_failures.collect():
        for s in family.samples:
            if s.name.endswith("_total") and s.value:
                out[s.labels["reason"]] = s.value
    return out


def make_client(
    session: aiohttp.ClientSession,
    source: SourceConfig,
    metrics: Metrics,
    *,
    seed: int = SMALL_DRAWS_SEED,
    lane: Lane | None = None,
    timings: Timings = PRODUCTION,
) -> CanvasClient:
    """A Canvas client with production's timings (its tests measure the backoff) unless told."""
    return CanvasClient(
        session,
        source,
        lane if lane is not None else Lane(source.rate_limit, timings=timings),
        metrics,
        rng=random.Random(seed),  # noqa: S311 - reproducible jitter, not a secret
        timings=timings,
    )


def fast_source(url: str, **overrides: object) -> SourceConfig:
    """Short timeouts and no rate spacing to speak of: the tests' default source."""
    values: dict[str, object] = {
        "request_timeout": 0.3,
        "poll_timeout": 2.0,
        "rate_limit": 1000.0,
    }
    values.update(overrides)
    return source_config(url, **values)


def start_live(sim: Simulator, count: int, **kwargs: Any) -> list[int]:
    """Create and start ``count`` conferences; their ids in creation order."""
    ids = []
    for _ in range(count):
        conf = sim.world.create_conference(**kwargs)
        sim.world.start(conf.id)
        ids.append(conf.id)
    return ids


class FlakyStore(PassThroughStore):
    """Passes everything to a real store; while ``down``, ``commit`` fails like a lost link."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.down = False
        self.commits = 0

    async def commit(
        self, source: str, version: int, outcome: Outcome, fence: Fence | None = None
    ) -> int:
        if self.down:
            raise StoreError("store unreachable (injected by the test)")
        self.commits += 1
        return await self.inner.commit(source, version, outcome, fence)


@dataclass(frozen=True)
class Committed:
    """One outbox entry, decoded."""

    id: str
    type: str
    data: dict[str, Any]

    @property
    def conference_id(self) -> int:
        value = self.data["conference"]["id"]
        assert isinstance(value, int)
        return value


async def committed_events(store: Store, wait: float = 0.05) -> list[Committed]:
    """Every event committed since the last call (the test sink reads and acknowledges)."""
    found: list[Committed] = []
    while True:
        entries = await store.read(SINK, 100, wait)
        if not entries:
            return found
        await store.ack(SINK, entries)
        for entry in entries:
            body = json.loads(entry.body)
            assert body["type"] == entry.type
            found.append(Committed(entry.event_id, entry.type, body["data"]))
        wait = 0.01


@dataclass(frozen=True)
class Scripted:
    status: int
    headers: dict[str, str]
    body: bytes


class ScriptedCanvas:
    """A loopback server that answers each path from a queue of scripted answers (then 404).

    For what the simulator never says: a ``Link`` to another origin, a redirect, a malformed
    ``Link``, ``Retry-After`` as a fraction or an HTTP date. Records every request it gets.
    """

    def __init__(self) -> None:
        self._script: dict[str, deque[Scripted]] = defaultdict(deque)
        self.seen: list[SentRequest] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(
        self,
        path: str,
        status: int = 200,
        *,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        all_headers = dict(headers or {})
        if payload is not None:
            body = json.dumps(payload).encode()
            all_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self._script[path].append(Scripted(status, all_headers, body))

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append(SentRequest(str(request.url), dict(request.headers)))
        queue = self._script.get(request.path)
        if not queue:
            return web.json_response({"errors": [{"message": "not scripted"}]}, status=404)
        scripted = queue.popleft()
        return web.Response(status=scripted.status, headers=scripted.headers, body=scripted.body)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Rig:
    """One source polled by a real Poller against a running simulator and a real store."""

    sim: Simulator
    clock: FakeClock
    store: FlakyStore
    metrics: Metrics
    poller: Poller
    session: aiohttp.ClientSession
    timings: Timings

    @property
    def world(self) -> World:
        return self.sim.world

    async def poll(self) -> bool:
        return await self.poller.poll_once()

    async def events(self) -> list[Committed]:
        return await committed_events(self.store)

    def failures(self) -> dict[str, float]:
        return failures(self.metrics)

    def failing(self) -> PollFailure | None:
        return self.poller.failing

    def gauge(self, conference_type: str, context_type: str) -> float | None:
        return sample(
            self.metrics,
            "conference_monitor_live_conferences",
            source="main",
            conference_type=conference_type,
            context_type=context_type,
        )

    def value(self, name: str, **labels: str) -> float | None:
        return sample(self.metrics, name, source="main", **labels)

    def replica(self, store: Store, metrics: Metrics | None = None) -> Poller:
        """Another poller of the same source: another replica, or this one restarted."""
        source = self.poller.source
        metrics = metrics if metrics is not None else new_metrics()
        client = make_client(self.session, source, metrics, timings=self.timings)
        return Poller(
            source, client, store, metrics, interval=1.0, clock=self.clock, timings=self.timings
        )


@asynccontextmanager
async def poller_rig(
    store: Store,
    *,
    clock: FakeClock | None = None,
    interval: float = 1.0,
    leases: LeaseKeeper | None = None,
    timings: Timings = QUICK,
    **overrides: object,
) -> AsyncIterator[Rig]:
    """A poller of one simulated source, retrying Canvas within milliseconds (``QUICK``)."""
    clock = clock if clock is not None else FakeClock()
    async with Simulator(World(clock=clock)) as sim, http_session() as session:
        source = fast_source(sim.url, **overrides)
        metrics = new_metrics()
        flaky = FlakyStore(store)
        await flaky.open_outbox([SINK], [source.name])
        client = make_client(session, source, metrics, timings=timings)
        poller = Poller(
            source,
            client,
            flaky,
            metrics,
            interval=interval,
            clock=clock,
            leases=leases,
            timings=timings,
        )
        yield Rig(sim, clock, flaky, metrics, poller, session, timings)
