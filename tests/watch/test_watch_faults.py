"""The watch under faults: what a review found, kept as tests (each failed before its fix).

Real simulator, real stores; store faults are injected by replacing one method of the rig's
store for a call or two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from monitor.core.errors import StoreError
from monitor.store.roles import Store
from monitor.watch.schedule import Tier
from tests.support.watch_rig import WatchRig, watch_rig
from tests.watch.test_watch import small_campus

ADMIN_USER = 9001  # the simulator's admin-token user


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


async def live_group_conference(rig: WatchRig) -> int:
    """A conference live in group 7 (the admin is a member), seen through the live list only."""
    rig.world.enroll(ADMIN_USER, "Group", 7)
    await rig.discover()
    await rig.sweep()
    conference = rig.world.create_conference(
        context_type="Group", context_id=7, participants=[ADMIN_USER]
    )
    rig.world.start(conference.id)
    await rig.sweep()
    (started,) = await rig.events()
    assert (started.type, started.conference_id) == ("conference.started", conference.id)
    context = started.data["context"]  # named, and routed by its course's account
    assert (context["name"], context["account_id"]) == ("Biology Study Group", 1)
    return conference.id


async def test_a_conference_seen_only_in_the_live_list_survives_a_rediscovery(
    store: Store,
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await live_group_conference(rig)
        assert await rig.step()
        rig.world.add_course(6001, account_id=3, name="New", course_code="NEW-1")
        await rig.discover()
        await rig.advance(5)  # the live list is not due; the new course is
        assert await rig.step()
        await rig.advance(30)
        assert await rig.step()  # the live list's next beat
        assert await rig.events() == []  # no false end, no false restart


async def test_a_conference_seen_only_in_the_live_list_survives_a_restart(store: Store) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await live_group_conference(rig)
        rig.poller = rig.replica(rig.store)
        await rig.sweep()
        for n in range(3):
            await rig.advance(5)
            rig.world.add_course(7000 + n, account_id=3, name="x", course_code="X")
            await rig.discover()
            await rig.step()
        assert await rig.events() == []


async def start_in_5001(rig: WatchRig) -> int:
    conference = rig.world.create_conference(context_id=5001, participants=[77])
    await rig.discover()
    await rig.sweep()
    rig.world.start(conference.id)
    await rig.sweep()
    assert [e.type for e in await rig.events()] == ["conference.started"]
    assert rig.tier(5001) is Tier.LIVE
    return conference.id


async def test_a_live_course_that_stops_answering_ends_its_conference(store: Store) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await start_in_5001(rig)
        rig.sim.faults.add("status", "/api/v1/courses/5001", status=401, times=None)
        for _ in range(4):
            await rig.sweep()
        (ended,) = await rig.events()
        assert (ended.type, ended.data["reason"]) == ("conference.ended", "unconfirmed")


@pytest.mark.parametrize("status", [401, 503])
async def test_a_blip_on_a_live_course_does_not_delay_its_end(store: Store, status: int) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        conference = await start_in_5001(rig)
        await rig.advance(10)
        rig.sim.faults.add("status", "/api/v1/courses", status=status, times=3)
        rig.watch.schedule.hint(("Course", 5001))
        await rig.step()
        rig.world.end(conference)
        waited = 0
        while not (events := await rig.events()) and waited < 300:
            await rig.sweep()
            waited += 30
        assert [e.type for e in events] == ["conference.ended"]
        assert waited <= 90


async def test_marks_that_fail_to_save_lose_no_restart(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        conference = rig.world.create_conference(context_id=5002, participants=[77])
        await rig.discover()
        await rig.sweep()
        rig.world.start(conference.id)
        await rig.sweep()
        await rig.sweep()
        assert [e.type for e in await rig.events()] == ["conference.started"]
        rig.world.end(conference.id)
        real = store.mark_contexts
        calls = 0

        async def flaky(source: str, marks: Mapping[str, str]) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreError("connection reset (injected)")
            await real(source, marks)

        monkeypatch.setattr(rig.store, "mark_contexts", flaky)
        assert await rig.step()  # committed: the failed notes are kept for the next step
        (ended,) = await rig.events()
        assert ended.type == "conference.ended"
        rig.world.restart(conference.id)
        for _ in range(3):
            await rig.sweep()
        restarted = await rig.events()
        assert [(e.type, e.data["restart"]) for e in restarted] == [("conference.started", True)]
        assert calls >= 2  # the notes were written after all
        assert await store.context_marks("main")


async def test_a_store_that_cannot_load_is_not_asked_in_a_tight_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await rig.discover()
        await rig.sweep()
        loads = 0

        async def down(source: str) -> None:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0)
            raise StoreError("redis: connection refused (injected)")

        monkeypatch.setattr(rig.store, "load", down)
        rig.poller._version = None
        stop = asyncio.Event()
        task = asyncio.create_task(rig.poller.run(stop))
        await asyncio.sleep(1.0)
        stop.set()
        await task
        assert 1 <= loads < 10


async def test_one_course_refusing_its_groups_does_not_fail_discovery(store: Store) -> None:
    async with watch_rig(store, discover_groups=True) as rig:
        small_campus(rig.world)
        rig.world.add_group(77, "Lab group A", 5001)
        rig.sim.faults.add("status", "/api/v1/courses/5003/groups", status=403, times=None)
        assert await rig.watch.discovery.refresh()
        directory = rig.watch.discovery.directory
        assert directory is not None
        assert 77 in directory.groups
        assert 5003 in directory.courses


async def test_a_prepare_that_fails_half_way_is_done_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        rig.world.create_conference(context_id=5002, participants=[77])
        await rig.discover()
        await rig.sweep()
        assert rig.tier(5002) is Tier.WAITING
        rig.poller = rig.replica(rig.store)
        real = store.context_marks  # the real store behind the rig's pass-through
        calls = 0

        async def flaky(source: str) -> dict[str, str]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreError("redis: timeout (injected)")
            return await real(source)

        monkeypatch.setattr(rig.store, "context_marks", flaky)
        assert not await rig.step()
        assert not rig.watch.prepared
        assert await rig.step()
        assert rig.tier(5002) is Tier.WAITING  # its mark came back with the second try
        assert len(rig.watch.schedule) > 1
