"""Helpers for the chat delivery tests: a source that commits transitions, a chat runner
harness, a sink that records what it sent, and readers for what the fake receivers got.

Independent of ``delivery_helpers`` (which serves the webhook tests) on purpose: these tests
need events detected *now* (delivery lag is measured from the detection time) and a view of
which events each chat message carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp

from monitor.config.settings import SinkConfig, SinkType
from monitor.core.diff import Answer, Confirmation, diff
from monitor.core.models import Conference, Event, SourceState
from monitor.core.secret import Secret
from monitor.core.timings import Timings
from monitor.delivery.dispatch import SinkRunner
from monitor.delivery.sinks import ChatSink
from monitor.delivery.sinks.base import Attempt, Message
from monitor.observe.metrics import Metrics
from monitor.store.memory import MemoryStore
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import OutboxEntry
from tests.support import delivery_helpers
from tests.support.factories import conference
from tests.support.log_capture import captured_logs as capture_logs
from tests.support.receiver import Received
from tests.support.timings import QUICK

#: Retries in a blink: four attempts within about 0.35 s.
FAST_SCHEDULE: Final = (0.0, 0.05, 0.1, 0.2)
#: Enough quick retries to ride out a receiver outage of several seconds.
PATIENT_SCHEDULE: Final = (0.0, 0.05, 0.1, *(0.2,) * 60)
GROUP_WAIT: Final = 0.2
SINK: Final = "chat"
#: What a chat message says about a conference, as the receivers see it.
KINDS: Final = {"Live now": "started", "Ended": "ended", "Started and ended": "started_and_ended"}


StoreFactory = Callable[[], Store]


@asynccontextmanager
async def store_factory(kind: str, redis_url: str | None) -> AsyncIterator[StoreFactory]:
    """Stores on one shared backing: a second one is what a restarted process sees (for Redis:
    a new connection pool with the same consumer name, this replica after a restart)."""
    opened: list[Store] = []
    backing = MemoryStore()

    def factory() -> Store:
        if kind == "memory":
            return backing
        assert redis_url is not None
        store = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in opened:
            await store.close()


async def open_outbox(factory: StoreFactory) -> Store:
    """A store whose outbox the chat sink consumes from now on."""
    store = factory()
    await store.open_outbox([SINK], ["main"])
    return store


def captured_logs() -> contextlib.AbstractContextManager[io.StringIO]:
    """Every log line at info and above, as JSON, for the duration of the block."""
    return capture_logs("info")


def log_lines(stream: io.StringIO, event: str) -> list[dict[str, Any]]:
    """The captured JSON log lines whose event is ``event``."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == event]


def chat_config(kind: SinkType, url: str, **overrides: object) -> SinkConfig:
    """A chat sink as ``parse_sink`` would build it (the platform's default rate), made fast."""
    values: dict[str, object] = {
        "name": SINK,
        "type": kind,
        "url": Secret(url),
        "concurrency": 1,
        "rate": {SinkType.SLACK: 1.0, SinkType.TEAMS: 4.0}[kind],
        "retry_schedule": FAST_SCHEDULE,
        "group_wait": GROUP_WAIT,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SinkConfig(**values)  # type: ignore[arg-type]


class Source:
    """Commits conference transitions to a store, as a poller of source ``main`` would."""

    def __init__(self, store: Store, name: str = "main") -> None:
        self.store = store
        self.name = name
        self.state = SourceState(baselined=True)
        self.version = 0
        self.events: list[Event] = []
        self._began: dict[int, datetime] = {}

    def rebind(self, store: Store) -> None:
        """Go on committing through another handle on the same data (a restarted process)."""
        self.store = store

    def _live(self) -> dict[int, Conference]:
        return {cid: tracked.conference for cid, tracked in self.state.tracked.items()}

    async def _commit(
        self,
        live: dict[int, Conference],
        confirmations: Mapping[int, Confirmation],
        now: datetime,
    ) -> tuple[Event, ...]:
        outcome = diff(self.name, self.state, live, confirmations, now=now)
        self.version = await self.store.commit(self.name, self.version, outcome)
        self.state = outcome.state
        self.events.extend(outcome.events)
        return outcome.events

    async def start(self, *ids: int, now: datetime | None = None) -> tuple[Event, ...]:
        now = now or datetime.now(UTC)
        live = self._live()
        for cid in ids:
            self._began[cid] = now - timedelta(minutes=5)
            live[cid] = conference(cid, started_at=self._began[cid])
        return await self._commit(live, {}, now)

    async def end(self, *ids: int, now: datetime | None = None) -> tuple[Event, ...]:
        now = now or datetime.now(UTC)
        live = {cid: c for cid, c in self._live().items() if cid not in ids}
        confirmations = {
            cid: Confirmation(
                Answer.FOUND,
                conference(cid, started_at=self._began[cid], ended_at=now - timedelta(seconds=1)),
            )
            for cid in ids
        }
        return await self._commit(live, confirmations, now)


@dataclass
class Sent:
    """One attempt a chat sink made: the events its message carried and how it went."""

    event_ids: tuple[str, ...]
    attempt: Attempt
    at: float  # time.monotonic() when the answer came


class RecordingSink:
    """A real ``ChatSink`` that remembers every message it rendered and every attempt."""

    def __init__(self, inner: ChatSink) -> None:
        self.inner = inner
        self.name = inner.name
        self.rendered: list[list[Message]] = []  # one list per window
        self.sent: list[Sent] = []

    def render(self, entries: Sequence[OutboxEntry]) -> list[Message]:
        messages = self.inner.render(entries)
        self.rendered.append(messages)
        return messages

    async def send(self, message: Message) -> Attempt:
        attempt = await self.inner.send(message)
        ids = tuple(entry.event_id for entry in message.entries)
        self.sent.append(Sent(ids, attempt, time.monotonic()))
        return attempt

    @property
    def delivered(self) -> list[tuple[str, ...]]:
        """The event ids of each delivered message, in order."""
        return [sent.event_ids for sent in self.sent if sent.attempt.delivered]


@dataclass
class ChatRun:
    """A chat ``SinkRunner`` running in a task."""

    runner: SinkRunner
    sink: RecordingSink
    metrics: Metrics
    stop: asyncio.Event
    task: asyncio.Task[None]

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, {"sink": self.runner.name, **labels})
        assert value is not None, f"{name} {labels} is not exported"
        return value

    async def finish(self, within: float = 5.0) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, within)


@asynccontextmanager
async def running_chat(
    config: SinkConfig,
    store: Store,
    http: aiohttp.ClientSession,
    *,
    grace: float = 1.0,
    seed: int = 7,
    timings: Timings = QUICK,
) -> AsyncIterator[ChatRun]:
    """Run one chat ``SinkRunner`` on ``store`` (whose outbox must be open) until the end."""
    metrics = Metrics(["main"], [config.name])
    sink = RecordingSink(ChatSink(config, http))
    rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
    runner = SinkRunner(sink, config, store, metrics, rng=rng, timings=timings)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop, grace))
    run = ChatRun(runner, sink, metrics, stop, task)
    try:
        yield run
    finally:
        stop.set()
        if not task.done():
            with contextlib.suppress(TimeoutError):  # the test failed already: keep its reason
                await asyncio.wait_for(task, grace + 5)


_SINGLE: Final = re.compile(r":[a-z_]+: (Live now|Ended|Started and ended): Conference (\d+)")
_LINE: Final = re.compile(
    r":[a-z_]+: \*(Live now|Ended|Started and ended)\* (?:<[^|>]*\|)?Conference (\d+)>?(?: · |$)"
)


def slack_notices(payload: Any) -> list[tuple[str, int]]:
    """(kind, conference id) for each conference a Slack message shows, in order."""
    blocks = payload["blocks"]
    header = blocks[0]["text"]["text"]
    if single := _SINGLE.fullmatch(header):
        return [(KINDS[single[1]], int(single[2]))]
    found = []
    for block in blocks[1:]:
        assert block["type"] == "section", block
        for line in block["text"]["text"].split("\n"):
            match = _LINE.match(line)
            assert match is not None, line
            found.append((KINDS[match[1]], int(match[2])))
    return found


def teams_notices(payload: Any) -> list[tuple[str, int]]:
    """(kind, conference id) for each conference a Teams card shows, in order."""
    body = payload["attachments"][0]["content"]["body"]
    if body[0]["type"] == "TextBlock" and body[0]["text"] in KINDS:  # one notice
        title = body[1]["inlines"][0]["text"]
        return [(KINDS[body[0]["text"]], int(title.removeprefix("Conference ")))]
    found = []
    for element in body[1:]:
        if element["type"] == "RichTextBlock":
            label, title = element["inlines"]
            found.append((KINDS[label["text"].strip()], int(title["text"].split()[-1])))
    return found


def shown(
    requests: Sequence[Received], read: Callable[[Any], list[tuple[str, int]]]
) -> list[tuple[str, int]]:
    """Every (kind, conference id) the ``requests`` showed, in the order they arrived."""
    return [notice for request in requests for notice in read(request.json)]


def per_conference(notices: Sequence[tuple[str, int]]) -> dict[int, list[str]]:
    """What each conference's messages said, in order."""
    said: dict[int, list[str]] = {}
    for kind, cid in notices:
        said.setdefault(cid, []).append(kind)
    return said


def gaps(requests: Sequence[Received]) -> list[float]:
    """Seconds between consecutive requests' arrival."""
    return [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]


def ids(events: Sequence[Event]) -> list[str]:
    return [event.id for event in events]


async def backlog_is(store: Store, expected: int, sink: str = SINK, within: float = 5.0) -> None:
    """``delivery_helpers.backlog_is`` for this module's chat sink."""
    await delivery_helpers.backlog_is(store, expected, sink, within)
