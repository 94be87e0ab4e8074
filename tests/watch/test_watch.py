"""A source that watches an institution: discovery, the schedule at work, baselines by time.

Real simulator (accounts, courses, an admin token), real stores; the poller takes steps by hand.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest

from monitor.commands.checks import check
from monitor.core.secret import Secret
from monitor.simulator.server import Simulator
from monitor.simulator.world import World
from monitor.store.roles import Store
from monitor.watch.schedule import Tier
from tests.support.service import settings_for, source_config
from tests.support.watch_rig import INTERVAL, watch_rig


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


def small_campus(world: object) -> None:
    """Root 1 > faculty 2 > departments 3, 4; a course in each and one at the root."""
    assert isinstance(world, World)
    world.add_account("Faculty of Science", 1, 2)
    world.add_account("Biology", 2, 3)
    world.add_account("Chemistry", 2, 4)
    world.add_course(5001, account_id=3, name="Introduction to Biology", course_code="BIO-101")
    world.add_course(5002, account_id=4, name="Organic Chemistry", course_code="CHEM-201")
    world.add_course(5003, account_id=1, name="Campus Orientation", course_code="ORI-100")
    world.add_course(5004, account_id=4, name="Old Chemistry", workflow_state="completed")
    world.add_course(5005, account_id=3, name="Gone", workflow_state="deleted")


async def test_discovery_reads_every_course_of_the_accounts_and_their_tree(
    store: Store,
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await rig.discover()
        directory = rig.watch.discovery.directory
        assert directory is not None
        assert {5001, 5002, 5003, 5004} <= set(directory.courses)
        assert 5005 not in directory.courses  # deleted: not listed
        assert directory.courses[5001].name == "Introduction to Biology"
        assert directory.accounts_of(3) == [3, 2, 1]
        assert directory.within(5001 and 3, [2])
        assert not directory.within(1, [2])
        stored = await store.directory("main")
        assert stored == directory.encode()


async def test_the_first_sweep_is_a_silent_baseline_and_later_starts_are_news(
    store: Store,
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        before = rig.world.create_conference(context_id=5001, participants=[77])
        rig.world.start(before.id, at=rig.clock() - timedelta(minutes=5))  # before the monitor: old
        waiting = rig.world.create_conference(context_id=5002, participants=[77])
        await rig.discover()
        await rig.sweep()
        assert await rig.events() == []
        assert rig.tier(5001) is Tier.LIVE
        assert rig.tier(5002) is Tier.WAITING  # created, not started: it can go live
        assert rig.tier(5003) is Tier.QUIET
        assert rig.tier(5004) is Tier.DORMANT  # concluded
        rig.world.start(waiting.id)
        await rig.sweep()
        (event,) = await rig.events()
        assert (event.type, event.conference_id) == ("conference.started", waiting.id)
        assert event.data["context"] == {
            "type": "Course",
            "id": 5002,
            "name": "Organic Chemistry",
            "course_code": "CHEM-201",
            "account_id": 4,
        }
        rig.world.end(before.id)
        await rig.sweep()
        (ended,) = await rig.events()
        assert (ended.type, ended.conference_id) == ("conference.ended", before.id)
        assert ended.data["reason"] == "ended"


async def test_a_course_discovered_later_announces_only_starts_after_the_baseline(
    store: Store,
) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await rig.discover()
        await rig.sweep()
        old = rig.world.create_conference(context_id=101, participants=[77])
        rig.world.add_course(6001, account_id=3, name="New Course", course_code="NEW-1")
        rig.world.add_course(6002, account_id=3, name="Moved In", course_code="MOV-1")
        # Conference live in 6002 since before the monitor began (the course moved in later).
        early = rig.world.create_conference(context_id=6002, participants=[77])
        rig.world.start(early.id, at=rig.clock() - timedelta(minutes=30))
        await rig.advance(60)
        fresh = rig.world.create_conference(context_id=6001, participants=[77])
        rig.world.start(fresh.id)
        await rig.discover()
        await rig.sweep()
        started = {e.conference_id for e in await rig.events() if e.type == "conference.started"}
        assert fresh.id in started
        assert early.id not in started  # live since before the baseline: not news
        assert old.id not in started


async def test_a_deleted_course_is_never_read_again(store: Store) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await rig.discover()
        await rig.sweep()
        rig.world.delete_course(5003)
        await rig.discover()
        rig.sim.requests.clear()
        await rig.sweep()  # its first step takes the new directory in
        assert rig.tier(5003) is None
        for _ in range(3):
            await rig.sweep(INTERVAL * 2)
        assert rig.requests("/api/v1/courses/5003/") == 0
        assert rig.requests("/api/v1/courses/5001/conferences") >= 2  # the others go on


async def test_a_restart_resumes_without_a_new_baseline(store: Store) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        waiting = rig.world.create_conference(context_id=5002, participants=[77])
        await rig.discover()
        await rig.sweep()
        assert await rig.events() == []
        baseline = await store.baseline_at("main", rig.clock())
        rig.poller = rig.replica(rig.store)  # a new process on the same store
        await rig.advance(5)
        rig.world.start(waiting.id)
        await rig.sweep()
        events = await rig.events()
        assert [(e.type, e.conference_id) for e in events] == [("conference.started", waiting.id)]
        assert await store.baseline_at("main", rig.clock()) == baseline
        assert rig.tier(5002) is Tier.LIVE  # the restarted watch knew it was waiting


async def test_a_failing_course_does_not_stop_the_others(store: Store) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        await rig.discover()
        await rig.sweep()
        rig.world.set_conferences_tab("Course", 5003, False)
        rig.sim.faults.add("status", "/api/v1/courses/5001/conferences", status=500, times=50)
        conf = rig.world.create_conference(context_id=5002, participants=[77])
        rig.world.start(conf.id)
        await rig.sweep()
        started = [e.conference_id for e in await rig.events()]
        assert started == [conf.id]
        failures = rig.metrics.watch.context_failures
        assert failures.labels("main", "http_5xx")._value.get() >= 1
        assert rig.poller.failing is None  # the step itself completed


async def test_check_names_the_right_a_token_lacks_to_see_every_conference() -> None:
    async with Simulator(World()) as sim:
        sim.world.add_course(5001, name="Introduction to Biology", course_code="BIO-101")

        async def run(token: str) -> tuple[bool, str]:
            source = source_config(sim.url, token=Secret(token), accounts=(1,))
            out = io.StringIO()
            passed = await check(settings_for((source,)), out)
            return passed, out.getvalue()

        passed, said = await run("admin-token")
        assert passed, said
        assert "ok    source main account 1: lists its courses and manages their content" in said
        passed, said = await run("viewer-token")
        assert not passed
        (line,) = [x for x in said.splitlines() if "account 1" in x]
        assert line.startswith("FAIL")
        assert "cannot manage course content" in line
        assert "manage_course_content_*" in line
        assert "viewer-token" not in said
        assert "admin-token" not in said


async def test_groups_of_discovered_courses_when_asked(store: Store) -> None:
    async with watch_rig(store, discover_groups=True) as rig:
        small_campus(rig.world)
        rig.world.add_group(77, "Lab group A", 5001)
        await rig.discover()
        directory = rig.watch.discovery.directory
        assert directory is not None
        group = directory.groups[77]
        assert (group.name, group.course_id, group.account_id) == ("Lab group A", 5001, 3)
        await rig.sweep()
        conference = rig.world.create_conference(
            context_type="Group", context_id=77, participants=[77]
        )
        rig.world.start(conference.id)
        await rig.sweep()
        (event,) = await rig.events()
        assert event.conference_id == conference.id
        assert event.data["context"]["name"] == "Lab group A"
        assert event.data["context"]["account_id"] == 3


async def test_without_groups_asked_only_courses_are_read(store: Store) -> None:
    async with watch_rig(store) as rig:
        small_campus(rig.world)
        rig.world.add_group(77, "Lab group A", 5001)
        await rig.discover()
        await rig.sweep()
        assert rig.requests("/api/v1/courses/5001/groups") == 0
        assert rig.watch.schedule.tier(("Group", 77)) is None
