"""The Poller against the simulator and both stores: events, failed polls, metrics, the ticker.

Invariant 1 is the centre: every fault the simulator can inject is injected on a poll where a
conference really ended, on the page that lists conferences still live, and the poll must change
nothing (in memory or in the store), commit nothing and say why; the next clean poll ends exactly
the conference that ended. Retries back off by a few milliseconds here (the rig's timings are
``Timings.for_tests()``); their real timing is pinned in ``test_canvas.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from monitor.core.errors import PollFailure
from monitor.core.lease_name import LeaseName
from monitor.core.models import EventType, Phase, event_id
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.replicas.leases import LeaseKeeper
from monitor.simulator.throttle import FORBIDDEN_BODY
from monitor.store.memory import MemoryStore
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.store.values import holder
from monitor.watch.ticker import ticker
from tests.support.canvas_helpers import LIVE, Rig, poller_rig, start_live


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore.from_url(Secret(request.getfixturevalue("redis_url")), consumer="p")
    yield redis_store
    await redis_store.close()


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    async with poller_rig(store) as made:
        yield made


def started_at(rig: Rig, conference_id: int) -> str:
    value = rig.world.api_json(rig.world.get(conference_id))["started_at"]
    assert isinstance(value, str)
    return value


# events


async def test_baseline_is_silent_then_starts_and_ends_are_committed(rig: Rig) -> None:
    first, second = start_live(rig.sim, 2)
    assert await rig.poll()
    assert await rig.events() == []
    assert set(rig.poller.state.tracked) == {first, second}

    (newcomer,) = start_live(rig.sim, 1, title="Physics")
    rig.world.end(first)
    assert await rig.poll()
    events = {(e.type, e.conference_id): e for e in await rig.events()}
    assert set(events) == {("conference.started", newcomer), ("conference.ended", first)}
    began = events["conference.started", newcomer]
    assert began.id == event_id("main", newcomer, started_at(rig, newcomer), 0, EventType.STARTED)
    assert began.data["conference"]["title"] == "Physics"
    assert (began.data["source"], began.data["restart"], began.data["reason"]) == (
        "main",
        False,
        None,
    )
    assert began.data["detected_at"] == "2026-11-24T10:00:00Z"
    ended = events["conference.ended", first]
    assert ended.data["reason"] == "ended"
    assert ended.data["ended_at"] == rig.world.api_json(rig.world.get(first))["ended_at"]
    assert ended.id == event_id("main", first, started_at(rig, first), 0, EventType.ENDED)

    assert await rig.poll()  # nothing changed: nothing to say
    assert await rig.events() == []
    assert set(rig.poller.state.tracked) == {second, newcomer}


async def test_announce_existing_announces_the_baseline(store: Store) -> None:
    async with poller_rig(store, announce_existing=True) as rig:
        ids = start_live(rig.sim, 3)
        assert await rig.poll()
        events = await rig.events()
        assert sorted(e.conference_id for e in events) == sorted(ids)
        assert {e.type for e in events} == {"conference.started"}
        assert not any(e.data["restart"] for e in events)


# invariant 1: a poll that did not complete changes nothing


@dataclass(frozen=True)
class Fault:
    name: str
    reason: PollFailure
    inject: Callable[[Rig], object]
    heal: Callable[[Rig], object] = lambda rig: rig.sim.faults.clear()
    settle: float = 0.0  # seconds the next poll must wait first (a throttle Canvas imposed)
    overrides: dict[str, Any] = field(default_factory=dict)


def on_page_2(kind: str, **options: Any) -> Callable[[Rig], object]:
    return lambda rig: rig.sim.faults.add(kind, LIVE, page=2, times=None, **options)


def store_down(rig: Rig) -> None:
    rig.store.down = True


def store_up(rig: Rig) -> None:
    rig.store.down = False


FAULTS = [
    Fault("status_500", PollFailure.HTTP_5XX, on_page_2("status")),
    Fault("html_502", PollFailure.HTTP_5XX, on_page_2("html")),
    Fault("timeout", PollFailure.TIMEOUT, on_page_2("timeout")),
    Fault(
        "slow_beyond_budget",  # each page answers within its timeout; together they do not
        PollFailure.TIMEOUT,
        lambda rig: rig.sim.faults.add("slow", LIVE, delay=0.25, times=None),
        overrides={"poll_timeout": 0.4},
    ),
    Fault("bad_json", PollFailure.INVALID_RESPONSE, on_page_2("bad_json")),
    Fault("shape_array", PollFailure.INVALID_RESPONSE, on_page_2("wrong_shape", shape="array")),
    Fault("shape_missing", PollFailure.INVALID_RESPONSE, on_page_2("wrong_shape", shape="missing")),
    Fault(
        "shape_not_list", PollFailure.INVALID_RESPONSE, on_page_2("wrong_shape", shape="not_list")
    ),
    Fault("truncated", PollFailure.CONNECTION, on_page_2("truncated")),
    Fault("reset", PollFailure.CONNECTION, on_page_2("reset")),
    Fault(
        "revoked_token",
        PollFailure.AUTH,
        lambda rig: rig.world.revoke_token("sim-token"),
        heal=lambda rig: rig.world.add_token("sim-token", 1),
    ),
    Fault(
        "throttled_429",
        PollFailure.THROTTLED,
        on_page_2("status", status=429),
        overrides={"poll_timeout": 0.9},  # the first wait (1-2 s) is already past the budget
        settle=2.05,  # ... and the next poll honours it
    ),
    Fault(
        "throttled_403",
        PollFailure.THROTTLED,
        on_page_2("status", status=403, body=FORBIDDEN_BODY),
        overrides={"poll_timeout": 0.9},
        settle=2.05,
    ),
    Fault("forbidden_403", PollFailure.FORBIDDEN, on_page_2("status", status=403)),
    Fault("store_down", PollFailure.STORE, store_down, heal=store_up),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_failed_poll_changes_nothing_and_never_ends_a_live_conference(
    store: Store, fault: Fault
) -> None:
    async with poller_rig(store, **fault.overrides) as rig:
        ids = start_live(rig.sim, 150)  # newest first: page 1 has ids[50:], page 2 ids[:50]
        assert await rig.poll()
        assert rig.gauge("BigBlueButton", "Course") == 150
        ended = ids[-1]
        rig.world.end(ended)  # really ended; page 2 still lists 49 live conferences
        state, loaded = rig.poller.state, await store.load("main")
        last_success = rig.value("conference_monitor_last_successful_poll_timestamp_seconds")

        fault.inject(rig)
        assert await rig.poll() is False
        assert rig.poller.state is state
        assert await store.load("main") == loaded
        assert await rig.events() == []
        assert rig.failures() == {fault.reason.value: 1}
        assert rig.failing() is fault.reason
        assert rig.gauge("BigBlueButton", "Course") == 150
        assert rig.value("conference_monitor_last_successful_poll_timestamp_seconds") == (
            last_success
        )

        fault.heal(rig)
        await asyncio.sleep(fault.settle)
        assert await rig.poll()
        [event] = await rig.events()
        assert (event.type, event.conference_id, event.data["reason"]) == (
            "conference.ended",
            ended,
            "ended",
        )
        assert set(rig.poller.state.tracked) == set(ids) - {ended}
        assert rig.failing() is None
        assert rig.gauge("BigBlueButton", "Course") == 149


async def test_bad_records_do_not_fail_the_poll(rig: Rig) -> None:
    ids = start_live(rig.sim, 150)
    assert await rig.poll()
    rig.sim.faults.add("bad_record", LIVE, page=2, times=None)
    assert await rig.poll()
    assert await rig.events() == []
    assert set(rig.poller.state.tracked) == set(ids)
    assert rig.value("conference_monitor_invalid_records_total") == 3


async def test_failing_watched_index_never_ends_what_only_it_shows(store: Store) -> None:
    async with poller_rig(store, courses=(101,)) as rig:
        hidden = rig.world.create_conference(participants=(2,))  # not the token user's
        rig.world.start(hidden.id)
        assert await rig.poll()
        assert set(rig.poller.state.tracked) == {hidden.id}
        rig.sim.faults.add("status", "/api/v1/courses/101/conferences", times=None)
        assert await rig.poll() is False
        assert rig.failures() == {"http_5xx": 1}
        assert set(rig.poller.state.tracked) == {hidden.id}
        rig.sim.faults.clear()
        assert await rig.poll()
        assert await rig.events() == []
        assert rig.poller.state.tracked[hidden.id].phase is Phase.LIVE


# metrics


async def test_live_gauge_follows_the_snapshot(rig: Rig) -> None:
    assert rig.gauge("BigBlueButton", "Course") == 0  # exists before the first poll
    two = start_live(rig.sim, 2)
    start_live(rig.sim, 1, context_type="Group", context_id=7)
    start_live(rig.sim, 1, context_id=202, conference_type="AdobeConnect")
    (zoom,) = start_live(rig.sim, 1, conference_type="Zoom")
    assert await rig.poll()
    assert rig.gauge("BigBlueButton", "Course") == 2
    assert rig.gauge("BigBlueButton", "Group") == 1
    assert rig.gauge("AdobeConnect", "Course") == 1
    assert rig.gauge("Zoom", "Course") == 1
    assert rig.gauge("CiscoWebex", "Course") == 0

    rig.world.end(two[0])
    rig.world.end(zoom)
    assert await rig.poll()
    assert rig.gauge("BigBlueButton", "Course") == 1
    assert rig.gauge("Zoom", "Course") == 0
    assert rig.gauge("BigBlueButton", "Group") == 1

    rig.world.end(two[1])
    rig.sim.faults.add("status", LIVE, times=None)
    assert await rig.poll() is False
    assert rig.gauge("BigBlueButton", "Course") == 1  # a failed poll proves nothing


async def test_poll_counters_and_last_success(rig: Rig) -> None:
    name = "conference_monitor_last_successful_poll_timestamp_seconds"
    assert rig.value(name) == 0
    rig.world.revoke_token("sim-token")
    assert await rig.poll() is False
    assert rig.value(name) == 0
    rig.world.add_token("sim-token", 1)
    before = time.time()
    assert await rig.poll()
    stamp = rig.value(name)
    assert stamp is not None
    assert before <= stamp <= time.time()
    assert await rig.poll()
    assert rig.value("conference_monitor_polls_total") == 3
    assert rig.value("conference_monitor_poll_duration_seconds_count") == 3
    assert rig.failures() == {"auth": 1}


# another writer


async def stale_then_reload(rig: Rig, second: Store) -> None:
    assert await rig.poll()  # baseline: version 1
    (conf,) = start_live(rig.sim, 1)
    other = rig.replica(second)
    assert await other.poll_once()  # loads version 1, commits the start: version 2

    assert await rig.poll() is False  # our commit names version 1
    assert rig.failures() == {"store": 1}
    assert rig.value("conference_monitor_commits_refused_total") == 0  # stale, not fenced
    assert await rig.poll()  # reloaded, and the start is already committed
    assert set(rig.poller.state.tracked) == {conf}
    assert rig.gauge("BigBlueButton", "Course") == 1

    rig.world.end(conf)
    assert await rig.poll()
    events = await rig.events()
    assert [(e.type, e.conference_id) for e in events] == [
        ("conference.started", conf),
        ("conference.ended", conf),
    ]
    assert len({e.id for e in events}) == 2


async def test_stale_state_from_another_redis_writer_is_reloaded(redis_url: str) -> None:
    ours = RedisStore.from_url(Secret(redis_url), consumer="a")
    theirs = RedisStore.from_url(Secret(redis_url), consumer="b")
    try:
        async with poller_rig(ours) as rig:
            await stale_then_reload(rig, theirs)
    finally:
        await ours.close()
        await theirs.close()


async def test_stale_state_from_another_poller_in_process_is_reloaded() -> None:
    shared = MemoryStore()
    async with poller_rig(shared) as rig:
        await stale_then_reload(rig, shared)


# the beat


async def test_ticker_is_start_to_start() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    began = loop.time()
    ticks: list[float] = []
    async for _ in ticker(0.1, stop):
        ticks.append(loop.time() - began)
        await asyncio.sleep(0.06)  # a body that takes time does not push the beat back
        if len(ticks) == 4:
            stop.set()
    for n, tick in enumerate(ticks):  # sleeping after each body would give 0.16, 0.32, 0.48
        assert n * 0.1 <= tick + 0.001 < n * 0.1 + 0.04, ticks


async def test_ticker_skips_overrun_ticks_and_keeps_its_phase() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    began = loop.time()
    ticks: list[float] = []
    async for _ in ticker(0.1, stop):
        ticks.append(loop.time() - began)
        if len(ticks) == 1:
            await asyncio.sleep(0.25)  # overruns the ticks at 0.1 and 0.2
        if len(ticks) == 3:
            stop.set()
    assert len(ticks) == 3
    assert ticks[0] < 0.03
    assert 0.3 - 0.001 <= ticks[1] < 0.34, ticks  # not 0.25 (bunched), not 0.35 (drifted)
    assert 0.4 - 0.001 <= ticks[2] < 0.44, ticks


async def test_ticker_stops_while_waiting() -> None:
    stop = asyncio.Event()
    ticks = 0
    began = time.monotonic()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    async for _ in ticker(10.0, stop):
        ticks += 1
    assert ticks == 1
    assert time.monotonic() - began < 0.5


async def test_failing_polls_keep_the_beat(store: Store) -> None:
    async with poller_rig(store, interval=0.1) as rig:
        rig.world.revoke_token("sim-token")
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.35, stop.set)
        await asyncio.wait_for(rig.poller.run(stop), 2)
        assert rig.value("conference_monitor_polls_total") == 4  # at 0, 0.1, 0.2 and 0.3 s
        assert rig.failures() == {"auth": 4}


async def test_a_restarted_poller_resumes_from_the_committed_state(rig: Rig) -> None:
    first, second = start_live(rig.sim, 2)
    assert await rig.poll()
    (third,) = start_live(rig.sim, 1)
    assert await rig.poll()
    [started] = await rig.events()
    restarted = rig.replica(rig.store)  # a new process: nothing in memory, all in the store
    assert await restarted.poll_once()
    assert await rig.events() == []  # no second baseline, no repeated start
    assert set(restarted.state.tracked) == {first, second, third}
    rig.world.end(third)
    assert await restarted.poll_once()
    [ended] = await rig.events()
    assert ended.conference_id == third
    assert ended.id == event_id("main", third, started_at(rig, third), 0, EventType.ENDED)
    assert started.id == event_id("main", third, started_at(rig, third), 0, EventType.STARTED)


async def test_a_fenced_commit_changes_nothing_and_gives_the_lease_up(store: Store) -> None:
    """Another replica took the lease (here: from a live holder that did not know it had lost
    it): the poller's next commit is refused, nothing is stored or announced, the refusal is
    counted, and the keeper stops trusting the lease at once instead of polling on as if it
    held it."""
    keeper = LeaseKeeper(store, "a", [LeaseName.source("main")], 30.0, Metrics(["main"], []))
    await keeper.check()
    async with poller_rig(store, leases=keeper) as rig:
        assert await rig.poll()  # the baseline, under a's lease
        assert rig.value("conference_monitor_commits_refused_total") == 0  # there from the start
        version = (await store.load("main")).version
        view = await store.heartbeat("b", "other", 0, 10.0)
        assert await store.acquire(["main"], holder("b", view.epoch, "other"), view, {"main"})
        start_live(rig.sim, 1)
        assert not await rig.poll()
        assert rig.failures() == {PollFailure.STORE.value: 1}
        assert rig.value("conference_monitor_commits_refused_total") == 1
        assert not keeper.holds(LeaseName.source("main"))
        assert (await store.load("main")).version == version
        assert await rig.events() == []
