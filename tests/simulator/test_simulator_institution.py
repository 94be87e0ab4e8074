"""The simulator as a whole institution's Canvas: account listings, courses, rights, the gap.

Each test runs a real simulator on loopback and reads it with aiohttp, asserting what a monitor
watching every course depends on: sub-accounts' courses in an account's listing, numbered pages
without ``rel="last"``, deleted courses gone, the rights each endpoint needs, and the silent gap
of a token that may read a course but not manage it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from monitor.simulator import InstitutionPlan, Simulator, World

LINK_PART = re.compile(r'<(?P<url>[^<>, ]+)>; rel="(?P<rel>[a-z]+)"')
ADMIN = {"Authorization": "Bearer admin-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
MEMBER = {"Authorization": "Bearer sim-token"}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
SMALL = InstitutionPlan(accounts=(2, 2), courses=60, seed=7, first_course_id=5001)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(World()) as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield session


def rels(response: aiohttp.ClientResponse) -> dict[str, str]:
    """``{rel: url}``, checking Canvas's exact ``,`` join."""
    found = {}
    for part in response.headers["Link"].split(","):
        match = LINK_PART.fullmatch(part)
        assert match, response.headers["Link"]
        found[match["rel"]] = match["url"]
    return found


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] = ADMIN
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        body = await resp.json(content_type=None) if resp.status != 302 else await resp.text()
        return resp.status, body, resp


async def crawl(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] = ADMIN
) -> list[Any]:
    """Every item of a numbered listing, following ``next`` until it is gone."""
    items: list[Any] = []
    next_url: str | None = url
    while next_url is not None:
        status, body, resp = await get(http, next_url, headers)
        assert status == 200, body
        links = rels(resp)
        assert "last" not in links  # Canvas counts nothing here
        items += body
        next_url = links.get("next")
    return items


def alive(world: World, account_id: int) -> list[int]:
    """The ids Canvas lists for an account by default: its subtree's, deleted ones left out."""
    subtree = set(world.accounts.subtree(account_id))
    return [
        c.id
        for c in world.catalog.all()
        if c.account_id in subtree and c.workflow_state != "deleted"
    ]


# the default set-up


async def test_the_default_world_is_root_account_1_with_named_courses(
    http: aiohttp.ClientSession,
) -> None:
    status, body, resp = await get(http, "/api/v1/accounts/1/courses")
    assert status == 200
    assert [(c["id"], c["name"], c["course_code"], c["account_id"]) for c in body] == [
        (101, "Introduction to Biology", "BIO-101", 1),
        (202, "Linear Algebra", "MATH-202", 1),
    ]
    assert list(rels(resp)) == ["current", "first"]
    course = body[0]
    assert course["root_account_id"] == 1
    assert course["workflow_state"] == "available"
    assert course["sis_course_id"] is None
    assert "original_name" not in course
    assert "updated_at" not in course
    status, groups, _ = await get(http, "/api/v1/courses/101/groups", MEMBER)
    assert status == 200
    assert [(g["id"], g["context_type"], g["course_id"]) for g in groups] == [(7, "Course", 101)]


# GET /api/v1/accounts/:id/courses


async def test_an_account_lists_its_sub_accounts_courses_and_not_the_deleted(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    made = world.build_institution(SMALL)
    assert made.by_state.get("deleted", 0) < len(made.course_ids)
    world.delete_course(5001)
    everything = await crawl(http, "/api/v1/accounts/1/courses?per_page=100")
    assert [c["id"] for c in everything] == alive(world, 1)
    assert 5001 not in [c["id"] for c in everything]
    faculty = made.account_ids[0]
    departments = [a.id for a in world.accounts.children(faculty)]
    under = await crawl(http, f"/api/v1/accounts/{faculty}/courses?per_page=100")
    assert [c["id"] for c in under] == alive(world, faculty)
    assert {c["account_id"] for c in under} <= {faculty, *departments}
    assert len(under) < len(everything)


async def test_numbered_pages_have_no_last_and_follow_next_to_the_end(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.build_institution(SMALL)
    expected = alive(sim.world, 1)
    seven = await crawl(http, "/api/v1/accounts/1/courses?per_page=7&include[]=term")
    assert [c["id"] for c in seven] == expected
    status, body, resp = await get(http, "/api/v1/accounts/1/courses?per_page=7&page=2")
    assert status == 200
    assert len(body) == 7
    links = rels(resp)
    assert list(links) == ["current", "next", "prev", "first"]
    assert links["next"].endswith("/api/v1/accounts/1/courses?page=3&per_page=7")
    status, body, resp = await get(http, "/api/v1/accounts/1/courses?page=99")
    assert (status, body) == (200, [])
    assert list(rels(resp)) == ["current", "prev", "first"]
    _, body, _ = await get(http, "/api/v1/accounts/1/courses")
    assert len(body) == 10  # Canvas's default per_page
    _, body, resp = await get(http, "/api/v1/accounts/1/courses?per_page=1000")
    assert len(body) == min(100, len(expected))
    assert "per_page=100" in rels(resp)["current"]


async def test_state_published_and_term_filters(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.build_institution(SMALL)
    world.add_course(6001, workflow_state="unpublished", enrollment_term_id=9)
    world.add_course(6002, workflow_state="completed", enrollment_term_id=9)
    world.add_course(6003, workflow_state="deleted", enrollment_term_id=9)
    url = "/api/v1/accounts/1/courses?per_page=100&enrollment_term_id=9"

    async def ids(extra: str = "") -> list[int]:
        return [c["id"] for c in await crawl(http, url + extra)]

    assert await ids() == [6001, 6002]
    assert await ids("&state[]=deleted") == [6003]
    assert await ids("&state[]=all") == [6001, 6002, 6003]
    assert await ids("&state[]=created&state[]=completed") == [6001, 6002]
    assert await ids("&published=true") == [6002]
    assert await ids("&published=false") == [6001]
    available = await crawl(http, "/api/v1/accounts/1/courses?state[]=available")
    assert available
    assert {c["workflow_state"] for c in available} == {"available"}
    _, deleted, _ = await get(http, "/api/v1/accounts/1/courses?state[]=deleted&per_page=100")
    assert {c["workflow_state"] for c in deleted} == {"deleted"}


async def test_listing_courses_needs_read_course_list_on_the_account_or_above(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    made = world.build_institution(SMALL)
    faculty = made.account_ids[0]
    world.grant_admin(50, faculty, "Viewer")
    world.add_token("faculty-token", 50)
    world.grant_admin(51, 1, "custom", frozenset({"read"}))
    world.add_token("read-only", 51)
    own = {"Authorization": "Bearer faculty-token"}
    status, body, resp = await get(http, "/api/v1/accounts/1/courses", own)
    assert (status, body) == (401, UNAUTHORIZED)
    assert "WWW-Authenticate" not in resp.headers
    department = world.accounts.children(faculty)[0].id
    for account in (faculty, department):
        assert (await get(http, f"/api/v1/accounts/{account}/courses", own))[0] == 200
    for headers in (MEMBER, {"Authorization": "Bearer read-only"}):
        assert (await get(http, "/api/v1/accounts/1/courses", headers))[:2] == (401, UNAUTHORIZED)
    status, body, resp = await get(http, "/api/v1/accounts/1/courses", {"Authorization": "x"})
    assert status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    for path in ("/api/v1/accounts/999/courses", "/api/v1/accounts/self1/courses"):
        assert (await get(http, path))[:2] == (404, NOT_FOUND)


# GET /api/v1/accounts/:id/sub_accounts


async def test_sub_accounts_recursive_and_direct(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    made = world.build_institution(SMALL)
    tree = await crawl(http, "/api/v1/accounts/1/sub_accounts?recursive=true&per_page=3")
    assert sorted(a["id"] for a in tree) == sorted(made.account_ids)
    assert [a["id"] for a in tree] == sorted(made.account_ids)
    faculty = made.account_ids[0]
    by_id = {a["id"]: a for a in tree}
    department = world.accounts.children(faculty)[0].id
    assert by_id[department]["parent_account_id"] == faculty
    assert by_id[department]["root_account_id"] == 1
    assert set(by_id[faculty]) >= {"id", "name", "parent_account_id", "root_account_id"}
    direct = await crawl(http, "/api/v1/accounts/1/sub_accounts")
    assert [a["id"] for a in direct] == [a.id for a in world.accounts.children(1)]
    world.grant_admin(52, 1, "custom", frozenset({"read_course_list"}))
    world.add_token("lists-only", 52)
    headers = {"Authorization": "Bearer lists-only"}
    assert (await get(http, "/api/v1/accounts/1/sub_accounts", headers))[:2] == (401, UNAUTHORIZED)
    assert (await get(http, "/api/v1/accounts/1/sub_accounts", VIEWER))[0] == 200


# GET /api/v1/courses/:id, /permissions, /groups


async def test_one_course_its_nickname_and_who_may_read_it(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.add_course(7001, name="Organic Chemistry", course_code="CHEM-210")
    world.set_nickname(9001, 7001, "Orgo")
    status, body, _ = await get(http, "/api/v1/courses/7001")
    assert status == 200
    assert (body["name"], body["original_name"], body["course_code"]) == (
        "Orgo",
        "Organic Chemistry",
        "CHEM-210",
    )
    _, body, _ = await get(http, "/api/v1/courses/7001", VIEWER)
    assert body["name"] == "Organic Chemistry"
    assert "original_name" not in body
    assert (await get(http, "/api/v1/courses/7001", MEMBER))[:2] == (401, UNAUTHORIZED)
    assert (await get(http, "/api/v1/courses/101", MEMBER))[0] == 200
    world.grant_admin(53, 1, "Lister", None)
    world.add_token("lister", 53)
    lister = {"Authorization": "Bearer lister"}
    assert (await get(http, "/api/v1/courses/7001", lister))[:2] == (401, UNAUTHORIZED)
    world.delete_course(7001)
    for path in ("/api/v1/courses/7001", "/api/v1/courses/7001/conferences", "/api/v1/courses/9"):
        assert (await get(http, path))[:2] == (404, NOT_FOUND)


async def test_permissions_say_who_may_manage_content(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.add_course(7002)
    url = "/api/v1/courses/7002/permissions?permissions[]=manage_content&permissions[]=made_up"
    assert (await get(http, url))[:2] == (200, {"manage_content": True, "made_up": False})
    assert (await get(http, url, VIEWER))[:2] == (200, {"manage_content": False, "made_up": False})
    assert (await get(http, url, MEMBER))[0] == 401
    member = "/api/v1/courses/101/permissions?permissions[]=manage_content"
    assert (await get(http, member, MEMBER))[:2] == (200, {"manage_content": True})
    _, everything, _ = await get(http, "/api/v1/courses/7002/permissions", VIEWER)
    assert everything["read_course_content"] is True
    assert everything["manage_course_content_edit"] is False


async def test_a_courses_groups_need_read_roster_and_page_with_last(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.add_course(7003)
    for group_id in (71, 72, 73):
        world.add_group(group_id, f"Team {group_id}", 7003)
    world.enroll(5, "Group", 72)
    status, body, resp = await get(http, "/api/v1/courses/7003/groups?per_page=2")
    assert status == 200
    assert [(g["id"], g["name"], g["course_id"]) for g in body] == [
        (71, "Team 71", 7003),
        (72, "Team 72", 7003),
    ]
    assert body[1]["members_count"] == 1
    assert body[0]["context_type"] == "Course"
    assert list(rels(resp)) == ["current", "next", "first", "last"]
    world.grant_admin(54, 1, "Lister", None)
    world.add_token("lister", 54)
    lister = {"Authorization": "Bearer lister"}
    assert (await get(http, "/api/v1/courses/7003/groups", lister))[:2] == (401, UNAUTHORIZED)


async def test_one_group_to_its_members_and_those_who_may_read_its_course(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    status, body, _ = await get(http, "/api/v1/groups/7")  # the default group, in course 101
    assert status == 200
    assert (body["id"], body["name"], body["course_id"]) == (7, "Biology Study Group", 101)
    member = {"Authorization": "Bearer sim-token"}
    assert (await get(http, "/api/v1/groups/7", member))[0] == 200
    assert (await get(http, "/api/v1/groups/999"))[:2] == (404, NOT_FOUND)
    world.add_user(55)
    world.add_token("stranger", 55)
    stranger = {"Authorization": "Bearer stranger"}
    assert (await get(http, "/api/v1/groups/7", stranger))[:2] == (401, UNAUTHORIZED)
    world.delete_course(101)
    assert (await get(http, "/api/v1/groups/7"))[:2] == (404, NOT_FOUND)


# the conference index and the rights behind it


async def test_manage_rights_see_every_conference_and_the_rest_only_their_own(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.add_course(7004)
    theirs = world.create_conference(context_id=7004, participants=(300,), title="Lecture")
    mine = world.create_conference(context_id=7004, participants=(300, 9002), title="Review")
    world.start(theirs.id)
    url = "/api/v1/courses/7004/conferences"
    _, body, resp = await get(http, url)
    assert [c["id"] for c in body["conferences"]] == [mine.id, theirs.id]
    assert list(rels(resp)) == ["current", "first", "last"]
    _, body, _ = await get(http, url, VIEWER)  # the silent gap: 200, but only its own
    assert [c["id"] for c in body["conferences"]] == [mine.id]
    assert body["conferences"][0]["started_at"] is None  # created before it starts
    world.grant_admin(55, 1, "custom", frozenset({"read_course_list", "manage_content"}))
    world.add_token("manager-unenrolled", 55)
    unread = {"Authorization": "Bearer manager-unenrolled"}
    assert (await get(http, url, unread))[:2] == (401, UNAUTHORIZED)
    world.enroll(55, "Course", 7004)
    _, body, _ = await get(http, url, unread)
    assert len(body["conferences"]) == 2


async def test_hidden_tab_deleted_course_and_no_plugin(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.add_course(7005)
    conf = world.create_conference(context_id=7005, participants=(9002,))
    url = "/api/v1/courses/7005/conferences"
    world.set_conferences_tab("Course", 7005, False)
    _, body, _ = await get(http, url)
    assert [c["id"] for c in body["conferences"]] == [conf.id]  # managers still see it
    status, body, _ = await get(http, url, VIEWER)
    assert (status, body) == (404, {"message": "That page has been disabled for this course"})
    world.plugins_configured = False
    status, _, resp = await get(http, url)
    assert status == 302
    assert resp.headers["Location"] == f"{sim.url}/courses/7005"
    assert (await get(http, url, {"Authorization": "Bearer nope"}))[0] == 401
    world.plugins_configured = True
    world.delete_course(7005)
    assert (await get(http, url))[:2] == (404, NOT_FOUND)
    assert world.index("Course", 7005) == [world.get(conf.id)]  # soft-deleted: still stored


# the machinery every endpoint shares: throttle and faults


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/accounts/1/courses",
        "/api/v1/accounts/1/sub_accounts",
        "/api/v1/courses/101",
        "/api/v1/courses/101/permissions",
        "/api/v1/courses/101/groups",
    ],
)
async def test_every_new_endpoint_is_throttled_and_costed(
    sim: Simulator, http: aiohttp.ClientSession, path: str
) -> None:
    status, _, resp = await get(http, path)
    assert status == 200
    assert float(resp.headers["X-Request-Cost"]) > 0
    assert float(resp.headers["X-Rate-Limit-Remaining"]) <= 600
    sim.throttle.configure({"high_water_mark": 10, "request_cost": 20, "reset_buckets": True})
    await get(http, path)
    async with http.get(path, headers=ADMIN) as resp:
        assert resp.status == 403
        assert await resp.text() == "403 Forbidden (Rate Limit Exceeded)"


async def test_faults_reach_the_listings_mid_crawl(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.build_institution(SMALL)
    base = "/api/v1/accounts/1/courses?per_page=10"
    sim.faults.add("status", "/api/v1/accounts/1/courses", page=2, status=503)
    assert (await get(http, f"{base}&page=1"))[0] == 200
    assert (await get(http, f"{base}&page=2"))[0] == 503
    sim.faults.add("bad_record", "/api/v1/accounts")
    _, body, _ = await get(http, f"{base}&page=2")
    assert len(body) == 13
    assert [c.get("id") for c in body[-2:]] == ["not-a-number", None]
    sim.faults.add("wrong_shape", "/api/v1/accounts")
    _, body, _ = await get(http, base)
    assert isinstance(body, dict)
    assert len(body["data"]) == 10
