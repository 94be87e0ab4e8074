"""Shaping the simulated institution: the builder, the ``/_sim/`` endpoints for accounts,
courses, admins and plugins, and the scale a university needs (10,000 courses, read fast).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from monitor.simulator import (
    InstitutionDirector,
    InstitutionPlan,
    SimInputError,
    Simulator,
    World,
    run_institution_script,
)
from monitor.simulator.catalog import CourseFilter

ADMIN = {"Authorization": "Bearer admin-token"}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(World()) as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield session


async def admin(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    async with http.request(method, f"/_sim/{path}", json=body) as resp:
        data = await resp.json()
        assert resp.status == status, data
        return data


async def canvas(
    http: aiohttp.ClientSession,
    path: str,
    token: str = "admin-token",  # noqa: S107 - the simulator's well-known admin token
) -> Any:
    async with http.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


# the builder


def test_a_plan_builds_the_same_institution_every_time() -> None:
    plan = InstitutionPlan(accounts=(3, 2), courses=500, seed=3, conferences=40, live=5)
    one, two = World(), World()
    first, second = one.build_institution(plan), two.build_institution(plan)
    assert first.as_json() == second.as_json()
    assert [c.name for c in one.catalog.all()] == [c.name for c in two.catalog.all()]
    assert len(first.account_ids) == 3 + 6
    assert len(first.leaf_account_ids) == 6
    assert first.course_ids == range(1001, 1501)
    assert sum(first.by_state.values()) == 500
    assert {c.account_id for c in one.catalog.all() if c.id > 1000} <= set(first.leaf_account_ids)
    confs = [one.get(i) for i in first.conference_ids]
    assert sum(c.started_at is None for c in confs) == 35
    assert [c.id for c in confs if one.is_live(c)] == first.live_ids
    assert one.for_user(1) == []  # the default user takes part in none of them
    other = World().build_institution(InstitutionPlan(accounts=(3, 2), courses=500, seed=4))
    assert other.by_state != first.by_state or other.leaf_account_ids != first.leaf_account_ids


def test_plans_refuse_what_makes_no_sense() -> None:
    world = World()
    for bad in (
        {"accounts": (0,)},
        {"courses": -1},
        {"conferences": 2, "live": 3},
        {"terms": 0},
        {"accounts": (100, 100, 2)},
    ):
        with pytest.raises(SimInputError):
            InstitutionPlan(**bad)
    world.build_institution(InstitutionPlan(courses=10, first_course_id=2000))
    with pytest.raises(SimInputError, match="overlap"):
        world.build_institution(InstitutionPlan(courses=10, first_course_id=2005))
    again = world.build_institution(InstitutionPlan(courses=10))
    assert again.course_ids == range(2010, 2020)


def test_moving_and_deleting_courses_keeps_listings_right() -> None:
    world = World()
    made = world.build_institution(InstitutionPlan(accounts=(2,), courses=20, seed=1))
    left, right = made.leaf_account_ids
    course = next(c for c in world.catalog.all() if c.account_id == left and c.id > 1000)
    before = world.account_courses(left, CourseFilter())
    assert world.account_courses(left, CourseFilter()) is before  # cached between pages
    world.move_course(course.id, right)
    assert course.id not in world.account_courses(left, CourseFilter())
    assert course.id in world.account_courses(right, CourseFilter())
    moved = world.account_courses(right, CourseFilter())
    assert moved == sorted(moved)
    world.delete_course(course.id)
    assert course.id not in world.account_courses(1, CourseFilter())
    with pytest.raises(SimInputError, match="deleted"):
        world.create_conference(context_id=course.id)


# the admin API


async def test_build_and_inspect_an_institution_over_http(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    made = await admin(
        http, "POST", "institution", {"accounts": [2, 2], "courses": 40, "seed": 2}, status=201
    )
    assert (made["accounts"], made["courses"]) == (6, 40)
    assert (made["first_course_id"], made["last_course_id"]) == (1001, 1040)
    truth = await admin(http, "GET", "institution")
    assert len(truth["accounts"]) == 7
    assert truth["courses"]["total"] == 42
    assert {a["role"] for a in truth["admins"]} == {"AccountAdmin", "Viewer"}
    assert truth["plugins_configured"] is True
    error = await admin(http, "POST", "institution", {"courses": "many"}, status=400)
    assert error["error"].startswith("courses:")
    await admin(http, "POST", "institution", {"planets": 3}, status=400)


async def test_accounts_admins_and_tokens_over_http(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    dept = await admin(http, "POST", "accounts", {"name": "Physics"}, status=201)
    assert (dept["parent_account_id"], dept["root_account_id"]) == (1, 1)
    lab = await admin(
        http, "POST", "accounts", {"name": "Lab", "parent_account_id": dept["id"]}, status=201
    )
    await admin(http, "POST", "courses", {"course_id": 8001, "account_id": lab["id"]}, status=201)
    grant = await admin(
        http,
        "POST",
        "admins",
        {"user_id": 60, "account_id": dept["id"], "role": "Viewer", "token": "physics"},
        status=201,
    )
    assert "manage_content" not in grant["permissions"]
    status, body = await canvas(http, f"/api/v1/accounts/{dept['id']}/courses", "physics")
    assert (status, [c["id"] for c in body]) == (200, [8001])
    assert (await canvas(http, "/api/v1/accounts/1/courses", "physics"))[0] == 401
    await admin(http, "POST", "admins", {"user_id": 61, "role": "Overlord"}, status=400)
    await admin(http, "POST", "admins", {"user_id": 61, "permissions": ["fly"]}, status=400)
    await admin(http, "POST", "accounts", {"name": "X", "parent_account_id": 999}, status=404)


async def test_courses_over_http_create_change_move_hide_delete(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    made = await admin(
        http,
        "POST",
        "courses",
        {"name": "Astronomy", "course_code": "AST-100", "workflow_state": "unpublished"},
        status=201,
    )
    course_id = made["id"]
    assert course_id == 203  # the next free id
    assert (made["workflow_state"], made["conferences_tab"]) == ("unpublished", True)
    dept = await admin(http, "POST", "accounts", {"name": "Sky"}, status=201)
    changed = await admin(
        http,
        "POST",
        f"courses/{course_id}",
        {"account_id": dept["id"], "workflow_state": "available", "conferences_tab": False},
    )
    assert (changed["account_id"], changed["conferences_tab"]) == (dept["id"], False)
    status, body = await canvas(http, f"/api/v1/accounts/{dept['id']}/courses")
    assert [c["id"] for c in body] == [course_id]
    conf = await admin(
        http,
        "POST",
        "conferences",
        {"context_type": "Course", "context_id": course_id, "participants": [70]},
        status=201,
    )
    assert conf["started_at"] is None
    status, body = await canvas(http, f"/api/v1/courses/{course_id}/conferences")
    assert [c["id"] for c in body["conferences"]] == [conf["id"]]  # hidden tab, manager sees
    started = await admin(http, "POST", f"conferences/{conf['id']}/start")
    assert started["live"] is True
    ended = await admin(http, "POST", f"conferences/{conf['id']}/end")
    assert ended["ended_at"] is not None
    await admin(
        http, "POST", f"courses/{course_id}/nicknames", {"user_id": 9001, "nickname": "Sky"}
    )
    status, body = await canvas(http, f"/api/v1/courses/{course_id}")
    assert status == 200
    assert (body["name"], body["original_name"]) == ("Sky", "Astronomy")
    deleted = await admin(http, "DELETE", f"courses/{course_id}")
    assert deleted["workflow_state"] == "deleted"
    assert (await canvas(http, f"/api/v1/courses/{course_id}"))[0] == 404
    await admin(http, "POST", f"courses/{course_id}", {"workflow_state": "gone"}, status=400)
    await admin(http, "GET", "courses/424242", status=404)
    await admin(http, "POST", "courses", {"course_id": 101}, status=400)


async def test_groups_and_plugins_over_http(sim: Simulator, http: aiohttp.ClientSession) -> None:
    group = await admin(
        http, "POST", "groups", {"group_id": 77, "name": "Lab Team", "course_id": 202}, status=201
    )
    assert group == {"group_id": 77, "name": "Lab Team", "course_id": 202}
    status, body = await canvas(http, "/api/v1/courses/202/groups")
    assert status == 200
    assert [g["id"] for g in body] == [77]
    off = await admin(http, "POST", "plugins", {"configured": False})
    assert off == {"configured": False}
    async with http.get(
        "/api/v1/courses/202/conferences", headers=ADMIN, allow_redirects=False
    ) as resp:
        assert resp.status == 302
    await admin(http, "POST", "reset")
    assert sim.world.plugins_configured is True
    assert sim.world.catalog.find_group(77) is None


# scale


async def test_ten_thousand_courses_crawl_fast(sim: Simulator, http: aiohttp.ClientSession) -> None:
    began = time.perf_counter()
    made = sim.world.build_institution(InstitutionPlan(courses=10_000, conferences=1000, live=50))
    built = time.perf_counter() - began
    expected = [c.id for c in sim.world.catalog.all() if c.workflow_state != "deleted"]
    began = time.perf_counter()
    seen: list[int] = []
    url: str | None = "/api/v1/accounts/1/courses?per_page=100"
    while url is not None:
        async with http.get(url, headers=ADMIN) as resp:
            seen += [c["id"] for c in await resp.json()]
            following = resp.links.get("next")
            url = str(following["url"]) if following is not None else None
    crawled = time.perf_counter() - began
    assert seen == expected
    assert len(seen) > 9_000
    assert built < 5
    assert crawled < 10  # about 100 requests; each page a slice of one cached listing
    course = made.course_ids[-1]
    began = time.perf_counter()
    for _ in range(50):
        sim.world.index("Course", course)
    assert time.perf_counter() - began < 0.5  # an index reads its own conferences only


# the scripted institution


def test_the_institution_script_schedules_starts_ends_and_changes_courses() -> None:
    world = World()
    summary = world.build_institution(InstitutionPlan(accounts=(2, 2), courses=300, seed=5))
    rng = random.Random(5)  # noqa: S311 - a seeded script, not cryptography
    director = InstitutionDirector(world, summary, rng)
    version = world.catalog.version
    for _ in range(200):
        director.step()
    confs = [world.get(i) for i in director.conference_ids]
    assert any(c.started_at is None for c in confs)  # scheduled, not started yet
    assert any(world.is_live(c) for c in confs)
    assert any(c.ended_at is not None for c in confs)
    assert all(c.context_type == "Course" and c.context_id in summary.course_ids for c in confs)
    assert world.catalog.version > version  # courses moved, deleted or created
    assert world.for_user(1) == []


async def test_run_institution_script_stops_on_the_event() -> None:
    world, stop = World(), asyncio.Event()
    plan = InstitutionPlan(accounts=(2,), courses=50, conferences=4, live=2)
    rng = random.Random(1)  # noqa: S311 - a seeded script, not cryptography
    task = asyncio.create_task(
        run_institution_script(world, plan=plan, rng=rng, stop=stop, tick=0.01)
    )
    await asyncio.sleep(0.1)
    stop.set()
    summary = await asyncio.wait_for(task, 2)
    assert len(summary.course_ids) == 50
