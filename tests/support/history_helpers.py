"""The event history's HTTP face on a bare app: a real ``Service`` around a given store, a
test server on loopback, commits of made-up polls, and a reader of Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from monitor.config.settings import SinkConfig
from monitor.core.diff import Answer, Confirmation, Outcome, diff
from monitor.core.lease_name import LeaseName
from monitor.core.models import SourceState
from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper
from monitor.service import Service
from monitor.store.roles import Store
from monitor.web.server import create_app
from tests.support.factories import NOW, conference, snapshot
from tests.support.service import settings_for, source_config
from tests.support.timings import QUICK


def bare_service(store: Store, sinks: tuple[SinkConfig, ...] = ()) -> Service:
    """A service with one source (``main``, polled by nobody) and ``sinks``, on ``store``."""
    settings = settings_for((source_config("http://127.0.0.1:9"),), sinks)
    metrics = Metrics(["main"], [s.name for s in sinks])
    names = [LeaseName.source("main")]
    leases = LeaseKeeper(store, "replica-a", names, 15.0, metrics)
    return Service(settings, store, metrics, [], leases)


@asynccontextmanager
async def web_client(
    store: Store,
    *,
    api_token: str | None = None,
    timings: Timings = QUICK,
    sinks: tuple[SinkConfig, ...] = (),
    max_streams: int | None = None,
) -> AsyncIterator[TestClient[Any, Any]]:
    service = bare_service(store, sinks)
    if api_token is not None:
        service.settings = replace(service.settings, api_token=Secret(api_token))
    app = create_app(
        service, api_token=None if api_token is None else Secret(api_token), timings=timings
    )
    if max_streams is not None:
        from monitor.web.event_stream import STREAMS  # noqa: PLC0415 - only here

        app[STREAMS].limit = max_streams
    async with TestClient(TestServer(app)) as client:
        yield client


class Committer:
    """Commits polls of made-up conferences to a source, one version after another."""

    def __init__(self, store: Store, source: str = "main") -> None:
        self.store = store
        self.source = source
        self.version = 0
        self.state = SourceState(baselined=True)
        self.live: dict[int, Any] = {}

    async def poll(self, *live: int) -> Outcome:
        """A poll that sees exactly ``live`` (ids): starts and ends as they change."""
        gone = {i: Confirmation(Answer.ABSENT) for i in self.live if i not in live}
        self.live = {i: conference(i) for i in live}
        outcome = diff(self.source, self.state, snapshot(*self.live.values()), gone, now=NOW)
        self.version = await self.store.commit(self.source, self.version, outcome)
        self.state = outcome.state
        return outcome

    async def start(self, *ids: int) -> list[str]:
        """Start ``ids`` (the others stay as they are); their event ids."""
        outcome = await self.poll(*self.live, *ids)
        return [event.id for event in outcome.events]


@dataclass
class Frame:
    id: str | None
    event: str | None
    data: str
    comment: bool = False

    def json(self) -> Any:
        return json.loads(self.data)


async def frames(
    response: aiohttp.ClientResponse, count: int, within: float = 5.0, *, comments: bool = False
) -> list[Frame]:
    """The next ``count`` frames of an event stream (comments too, when asked)."""
    found: list[Frame] = []
    fields: dict[str, str] = {}
    note: str | None = None
    async with asyncio.timeout(within):
        while len(found) < count:
            line = (await response.content.readline()).decode()
            if not line:
                raise AssertionError(f"the stream ended after {found!r}")
            line = line.rstrip("\n")
            if line == "":
                if fields:
                    found.append(Frame(fields.get("id"), fields.get("event"), fields["data"]))
                elif note is not None and comments:
                    found.append(Frame(None, None, note, comment=True))
                fields, note = {}, None
            elif line.startswith(":"):
                note = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
    return found
