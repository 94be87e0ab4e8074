"""Why a conference ended (invariant 4), restarts (invariant 5), watched contexts, and the store.

A conference that leaves ``?state=live`` is confirmed through its context's index before the
poller says why it ended; each test makes Canvas's real reason happen in the simulator and reads
the committed event back from the outbox of both stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from monitor.core.models import EventType, Phase, event_id
from monitor.core.secret import Secret
from monitor.simulator.throttle import FORBIDDEN_BODY
from monitor.store.memory import MemoryStore
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from tests.support.canvas_helpers import (
    T0,
    Committed,
    Rig,
    committed_events,
    poller_rig,
    start_live,
)

COURSE_101 = "/api/v1/courses/101/conferences"


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


async def one_ended(rig: Rig, conference_id: int) -> Committed:
    [event] = await rig.events()
    assert (event.type, event.conference_id) == ("conference.ended", conference_id)
    return event


async def live_after_baseline(rig: Rig, **kwargs: object) -> int:
    conf = rig.world.create_conference(**kwargs)  # type: ignore[arg-type]
    rig.world.start(conf.id)
    assert await rig.poll()
    assert await rig.events() == []
    return conf.id


# the reasons


async def test_ended_carries_canvas_ended_at_and_the_confirming_copy(rig: Rig) -> None:
    conf = await live_after_baseline(rig, record=True)
    rig.clock.advance(minutes=42)
    rig.world.end(conf)
    assert await rig.poll()
    event = await one_ended(rig, conf)
    canvas_end = rig.world.api_json(rig.world.get(conf))["ended_at"]
    assert canvas_end == "2026-11-24T10:42:00Z"
    assert event.data["reason"] == "ended"
    assert event.data["ended_at"] == canvas_end
    assert event.data["conference"]["ended_at"] == canvas_end
    [recording] = event.data["conference"]["recordings"]  # only the confirming copy has it
    assert recording["duration_minutes"] == 42
    assert rig.value("conference_monitor_conference_ends_total", reason="ended") == 1


async def test_expired_when_past_the_24_hour_live_window(rig: Rig) -> None:
    conf = rig.world.create_conference(duration=None)  # long-running: never "ends" by itself
    rig.world.start(conf.id, at=T0 - timedelta(hours=24) + timedelta(seconds=10))
    assert await rig.poll()
    assert set(rig.poller.state.tracked) == {conf.id}
    rig.clock.advance(seconds=20)  # still running, but Canvas's live scope lets go of it
    assert await rig.poll()
    event = await one_ended(rig, conf.id)
    assert event.data["reason"] == "expired"
    assert event.data["ended_at"] is None
    assert event.data["started_at"] == "2026-11-23T10:00:10Z"


async def test_out_of_scope_when_the_token_user_leaves_the_participants(rig: Rig) -> None:
    conf = await live_after_baseline(rig, participants=(1, 5))
    rig.world.remove_participant(conf, 1)
    assert await rig.poll()
    event = await one_ended(rig, conf)
    assert event.data["reason"] == "out_of_scope"
    assert event.data["ended_at"] is None
    assert event.data["conference"]["users"] == [5]  # the confirming copy, not the last seen


def tab_disabled(rig: Rig, conf: int) -> None:
    rig.world.remove_participant(conf, 1)  # gone from the live list; the index answers 404
    rig.world.set_conferences_tab("Course", 101, False)


def unenrolled(rig: Rig, conf: int) -> None:
    rig.world.unenroll(1, "Course", 101)  # gone from the live list; the index answers 401


def deleted(rig: Rig, conf: int) -> None:
    rig.world.delete_conference(conf)  # the index no longer lists it


@pytest.mark.parametrize("happen", [tab_disabled, unenrolled, deleted], ids=lambda f: f.__name__)
async def test_definite_non_answer_is_unconfirmed_at_once(
    rig: Rig, happen: Callable[[Rig, int], None]
) -> None:
    conf = await live_after_baseline(rig)
    happen(rig, conf)
    rig.sim.requests.clear()
    assert await rig.poll()
    event = await one_ended(rig, conf)
    assert event.data["reason"] == "unconfirmed"
    assert event.data["conference"]["users"] == [1]  # the last copy seen live
    assert event.data["conference"]["ended_at"] is None
    assert rig.sim.requests.count(COURSE_101) == 1  # a definite answer is asked once


TRANSIENT = {
    "status_500": {"kind": "status"},
    "html_503": {"kind": "html", "status": 503},
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
async def test_transient_confirmation_failure_waits_for_the_grace(
    store: Store, fault: dict[str, object]
) -> None:
    async with poller_rig(store, confirm_grace=3, poll_timeout=0.9) as rig:
        conf = await live_after_baseline(rig, participants=(1, 5))
        rig.world.remove_participant(conf, 1)  # gone from the live list, still running
        rig.sim.faults.add(path=COURSE_101, times=None, **fault)  # type: ignore[arg-type]
        for _ in range(2):
            assert await rig.poll()  # the snapshot is complete: the poll itself succeeded
            assert await rig.events() == []
            assert rig.poller.state.tracked[conf].phase is Phase.ENDING
            assert rig.gauge("BigBlueButton", "Course") == 0  # out of the live gauge at once
        assert await rig.poll()
        event = await one_ended(rig, conf)
        assert event.data["reason"] == "unconfirmed"
        assert conf not in rig.poller.state.tracked


@pytest.mark.parametrize(
    "throttle",
    [{"status": 403, "body": FORBIDDEN_BODY}, {"status": 429}],
    ids=["403_rate_limit", "429"],
)
async def test_throttled_confirmation_waits_for_the_grace(
    store: Store, throttle: dict[str, Any]
) -> None:
    # (Later polls then honour Canvas's wait; the grace itself is shown with 5xx above.)
    async with poller_rig(store, confirm_grace=3, poll_timeout=0.9) as rig:
        conf = await live_after_baseline(rig, participants=(1, 5))
        rig.world.remove_participant(conf, 1)
        rig.sim.faults.add("status", COURSE_101, times=None, **throttle)
        assert await rig.poll()
        assert await rig.events() == []  # throttling is "slow down", not "no"
        assert rig.poller.state.tracked[conf].phase is Phase.ENDING


async def test_back_live_during_the_grace_is_no_event_at_all(rig: Rig) -> None:
    conf = await live_after_baseline(rig, participants=(1, 5))
    rig.world.remove_participant(conf, 1)
    rig.sim.faults.add("status", COURSE_101, times=None)
    assert await rig.poll()
    assert rig.poller.state.tracked[conf].phase is Phase.ENDING
    rig.world.add_participant(conf, 1)
    rig.sim.faults.clear()
    assert await rig.poll()
    assert rig.poller.state.tracked[conf].phase is Phase.LIVE
    assert rig.gauge("BigBlueButton", "Course") == 1
    rig.world.end(conf)
    assert await rig.poll()
    event = await one_ended(rig, conf)  # the only event: no end, no restart in between
    assert (event.data["reason"], event.data["restart"]) == ("ended", False)


async def test_confirmation_recovers_to_the_real_reason_within_the_grace(rig: Rig) -> None:
    conf = await live_after_baseline(rig)
    rig.world.end(conf)
    rig.sim.faults.add("status", COURSE_101, times=3)  # one poll's three attempts
    assert await rig.poll()
    assert await rig.events() == []
    assert await rig.poll()
    assert (await one_ended(rig, conf)).data["reason"] == "ended"


# restarts


async def test_restart_is_a_new_generation_with_a_new_event_id(rig: Rig) -> None:
    assert await rig.poll()  # baseline: nothing live
    (conf,) = start_live(rig.sim, 1)
    started_at = rig.world.api_json(rig.world.get(conf))["started_at"]
    steps = []
    for change in (lambda: None, lambda: rig.world.end(conf), lambda: rig.world.restart(conf)):
        change()
        rig.clock.advance(minutes=1)
        assert await rig.poll()
        steps.extend(await rig.events())
        rig.clock.advance(minutes=1)
    rig.world.end(conf)
    assert await rig.poll()
    steps.extend(await rig.events())

    assert [(e.type, e.data["restart"]) for e in steps] == [
        ("conference.started", False),
        ("conference.ended", False),
        ("conference.started", True),
        ("conference.ended", True),
    ]
    assert {e.data["started_at"] for e in steps} == {started_at}  # Canvas keeps started_at
    ids = [e.id for e in steps]
    assert len(set(ids)) == 4
    assert ids == [
        event_id("main", conf, started_at, 0, EventType.STARTED),
        event_id("main", conf, started_at, 0, EventType.ENDED),
        event_id("main", conf, started_at, 1, EventType.STARTED),
        event_id("main", conf, started_at, 1, EventType.ENDED),
    ]


async def test_back_in_scope_after_an_end_is_a_restart(rig: Rig) -> None:
    conf = await live_after_baseline(rig, participants=(1, 5))
    rig.world.remove_participant(conf, 1)
    assert await rig.poll()
    assert (await one_ended(rig, conf)).data["reason"] == "out_of_scope"
    rig.world.add_participant(conf, 1)
    assert await rig.poll()
    [event] = await rig.events()
    assert (event.type, event.data["restart"]) == ("conference.started", True)


# watched courses and groups


async def test_watched_contexts_add_what_the_token_user_does_not_attend(store: Store) -> None:
    async with poller_rig(store, courses=(101,), groups=(7,)) as rig:
        world = rig.world

        def other_users(**kwargs: object) -> int:
            return world.create_conference(participants=(2,), **kwargs).id  # type: ignore[arg-type]

        hidden = other_users()
        grouped = other_users(context_type="Group", context_id=7)
        ends_later = other_users()
        long_ago = other_users()
        ended_now = other_users()
        unwatched = other_users(context_id=202)
        for conf in (hidden, grouped, ends_later, ended_now, unwatched):
            world.start(conf)
        world.start(long_ago, at=T0 - timedelta(hours=25))
        world.end(ends_later, at=T0 + timedelta(hours=1))  # ended_at in the future: still live
        world.end(ended_now)  # ended_at == now: not live
        assert await rig.poll()
        assert set(rig.poller.state.tracked) == {hidden, grouped, ends_later}
        assert rig.gauge("BigBlueButton", "Group") == 1

        newcomer = other_users()
        world.start(newcomer)
        world.end(hidden)
        rig.sim.requests.clear()
        assert await rig.poll()
        events = {(e.type, e.conference_id): e for e in await rig.events()}
        assert set(events) == {("conference.started", newcomer), ("conference.ended", hidden)}
        assert events["conference.ended", hidden].data["reason"] == "ended"
        assert rig.sim.requests.count(COURSE_101) == 1  # the snapshot's listing was reused


async def test_confirmations_are_asked_once_per_context(rig: Rig) -> None:
    course = start_live(rig.sim, 3, context_id=202)
    group = start_live(rig.sim, 2, context_type="Group", context_id=7)
    (stays,) = start_live(rig.sim, 1)
    assert await rig.poll()
    for conf in course + group:
        rig.world.end(conf)
    rig.sim.requests.clear()
    assert await rig.poll()
    events = await rig.events()
    assert sorted(e.conference_id for e in events) == sorted(course + group)
    assert {e.data["reason"] for e in events} == {"ended"}
    assert rig.sim.requests.count("/api/v1/courses/202/conferences") == 1
    assert rig.sim.requests.count("/api/v1/groups/7/conferences") == 1
    assert rig.sim.requests.count(COURSE_101) == 0
    assert set(rig.poller.state.tracked) == {stays}


# the Redis store failing for real


async def acl(redis_url: str, *rules: str) -> None:
    admin = aioredis.Redis.from_url(redis_url)
    try:
        # redis-py leaves execute_command unannotated; acl_setuser would also switch the user off.
        await admin.execute_command("ACL", "SETUSER", "default", *rules)  # type: ignore[no-untyped-call]
    finally:
        await admin.aclose()


async def test_redis_refusing_the_commit_changes_nothing(redis_url: str) -> None:
    store = RedisStore.from_url(Secret(redis_url), consumer="p")
    try:
        async with poller_rig(store) as rig:
            first, _ = start_live(rig.sim, 2)
            assert await rig.poll()
            rig.world.end(first)
            state, loaded = rig.poller.state, await store.load("main")
            await acl(redis_url, "-@scripting")
            try:
                failed = await rig.poll()
            finally:
                await acl(redis_url, "+@all")
            assert failed is False
            assert rig.failures() == {"store": 1}
            assert rig.poller.state is state
            assert await store.load("main") == loaded
            assert await rig.events() == []
            assert await rig.poll()
            assert (await one_ended(rig, first)).data["reason"] == "ended"
    finally:
        await store.close()


async def test_commit_failing_inside_redis_loses_no_event(redis_url: str) -> None:
    store = RedisStore.from_url(Secret(redis_url), consumer="p")
    restarted = RedisStore.from_url(Secret(redis_url), consumer="p")
    try:
        async with poller_rig(store) as rig:
            assert await rig.poll()
            loaded = await store.load("main")
            (conf,) = start_live(rig.sim, 1)
            await acl(redis_url, "-xadd")  # the script's first write fails
            try:
                assert await rig.poll() is False
            finally:
                await acl(redis_url, "+@all")
            assert await store.load("main") == loaded  # a failed commit writes nothing
            # The process restarts (or another replica takes over) before polling again.
            assert await rig.replica(restarted).poll_once()
            events = await committed_events(store)
            assert [(e.type, e.conference_id) for e in events] == [("conference.started", conf)]
    finally:
        await store.close()
        await restarted.close()


async def test_commit_failing_after_its_events_duplicates_but_never_loses(redis_url: str) -> None:
    """Redis keeps a script's earlier writes when a later one fails, so COMMIT writes the events
    first: a failure after them leaves events without state, and the next poll commits the
    same events again, with the same ids (a duplicate a receiver drops), never none."""
    store = RedisStore.from_url(Secret(redis_url), consumer="p")
    try:
        async with poller_rig(store) as rig:
            assert await rig.poll()
            loaded = await store.load("main")
            (conf,) = start_live(rig.sim, 1)
            await acl(redis_url, "-hset")  # the XADD goes through, the state write fails
            try:
                assert await rig.poll() is False
            finally:
                await acl(redis_url, "+@all")
            assert await store.load("main") == loaded  # no state, no new version ...
            first = await committed_events(store)
            assert [(e.type, e.conference_id) for e in first] == [("conference.started", conf)]
            assert await rig.poll()  # ... so the next poll detects the start again
            again = await committed_events(store)
            assert [(e.type, e.conference_id) for e in again] == [("conference.started", conf)]
            assert again[0].id == first[0].id
            assert set((await store.load("main")).state.tracked) == {conf}
    finally:
        await store.close()
