"""The simulator's model and Canvas endpoints: live scope, sort order, pagination, auth, 404s.

Each test runs a real simulator on loopback and talks to it with aiohttp, asserting what a
Canvas client depends on (and what a lazy fake would get wrong).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.simulator import SimInputError, Simulator, World
from monitor.simulator.paging import bookmark_page, decode_bookmark, numbered_page

AUTH = {"Authorization": "Bearer sim-token"}
LINK_PART = re.compile(r'<(?P<url>[^<>, ]+)>; rel="(?P<rel>[a-z]+)"')
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[Simulator]:
    async with Simulator(World(clock=clock)) as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url, headers=AUTH) as session:
        yield session


def links(header: str) -> list[tuple[str, str]]:
    """``[(rel, url), ...]`` in header order, checking Canvas's exact ``,`` join."""
    out = []
    for part in header.split(","):
        match = LINK_PART.fullmatch(part)
        assert match, header
        out.append((match["rel"], match["url"]))
    return out


async def get_json(
    http: aiohttp.ClientSession, url: str
) -> tuple[int, object, aiohttp.ClientResponse]:
    async with http.get(url) as resp:
        return resp.status, await resp.json(content_type=None), resp


# the model


def test_default_world_has_user_token_and_three_contexts() -> None:
    world = World()
    assert world.authenticate("sim-token") == 1
    assert world.user_name(1) == "Sim User"
    for context_type, context_id in (("Course", 101), ("Course", 202), ("Group", 7)):
        assert world.is_member(1, context_type, context_id)  # type: ignore[arg-type]
    assert world.create_conference().id == 1000
    assert world.create_conference().id == 1001
    assert world.create_conference(conference_id=5000).id == 5000
    assert world.create_conference().id == 5001
    with pytest.raises(SimInputError):
        world.create_conference(conference_id=5000)


def test_api_json_is_canvas_shaped(clock: FakeClock) -> None:
    world = World(clock=clock)
    conf = world.create_conference(participants=(1, 5, 9), record=True, has_calendar_event=True)
    world.start(conf.id)
    clock.now += timedelta(minutes=42)
    data = world.api_json(world.end(conf.id))
    assert data["has_calendar_event"] == 1
    assert type(data["has_calendar_event"]) is int
    assert data["join_url"] is None
    assert data["long_running"] is False
    assert data["duration"] == 60
    assert data["url"] == "http://canvas.sim/courses/101/conferences/1000"
    assert data["started_at"] == "2025-03-01T12:00:00Z"
    assert data["ended_at"] == "2025-03-01T12:42:00Z"
    assert data["users"] == [1, 5, 9]
    assert data["invitees"] == [5, 9]
    assert data["attendees"] == [1]
    assert (data["context_type"], data["context_id"]) == ("Course", 101)
    assert data["user_settings"]["record"] is True
    [recording] = data["recordings"]
    assert recording["created_at"] == int(T0.timestamp() * 1000)
    assert recording["duration_minutes"] == 42
    group = world.create_conference(context_type="Group", context_id=7, duration=None)
    group_json = world.api_json(group)
    assert group_json["long_running"] is True
    assert group_json["duration"] is None
    assert group_json["url"].endswith("/groups/7/conferences/1001")
    assert group_json["has_calendar_event"] == 0


def test_live_scope_window_is_exactly_one_day(clock: FakeClock) -> None:
    world = World(clock=clock)
    now = clock.now
    just_in = world.start(world.create_conference().id, at=now - timedelta(days=1))
    just_out = world.start(world.create_conference().id, at=now - timedelta(days=1, seconds=1))
    ends_later = world.create_conference()
    world.start(ends_later.id, at=now - timedelta(hours=1))
    world.end(ends_later.id, at=now + timedelta(minutes=5))
    ends_now = world.create_conference()
    world.start(ends_now.id, at=now - timedelta(hours=1))
    world.end(ends_now.id, at=now)
    future = world.start(world.create_conference().id, at=now + timedelta(seconds=1))
    never = world.create_conference()
    assert world.is_live(just_in, now)
    assert not world.is_live(just_out, now)
    assert world.is_live(world.get(ends_later.id), now)
    assert not world.is_live(world.get(ends_now.id), now)
    assert not world.is_live(future, now)
    assert not world.is_live(never, now)
    assert {c.id for c in world.live_for_user(1)} == {just_in.id, ends_later.id}
    clock.now += timedelta(seconds=1)  # the long-running one drops out while still running
    assert {c.id for c in world.live_for_user(1)} == {ends_later.id, future.id}
    assert world.get(just_in.id).ended_at is None


def test_started_at_never_moves_and_restart_keeps_it(clock: FakeClock) -> None:
    world = World(clock=clock)
    conf = world.create_conference()
    with pytest.raises(SimInputError):
        world.restart(conf.id)
    first = world.start(conf.id).started_at
    assert first is not None
    clock.now += timedelta(minutes=10)
    assert world.start(conf.id).started_at == first
    ended = world.end(conf.id)
    assert ended.ended_at == clock.now
    assert world.end(conf.id, at=clock.now + timedelta(hours=1)).ended_at == clock.now
    clock.now += timedelta(minutes=10)
    back = world.restart(conf.id)
    assert back.started_at == first
    assert back.ended_at is None
    assert back.generation == 1
    assert world.is_live(back)
    with pytest.raises(SimInputError):
        world.end(conf.id, at=first - timedelta(seconds=1))


def test_lists_sort_by_created_at_then_id_descending(clock: FakeClock) -> None:
    world = World(clock=clock)
    old = world.create_conference(created_at=T0 - timedelta(days=3))
    tie_a = world.create_conference(created_at=T0 - timedelta(days=1))
    tie_b = world.create_conference(created_at=T0 - timedelta(days=1))
    new = world.create_conference(created_at=T0 - timedelta(hours=1))
    for conf in (old, tie_a, tie_b, new):
        world.start(conf.id, at=T0 - timedelta(minutes=5))  # started order is irrelevant
    expected = [new.id, tie_b.id, tie_a.id, old.id]
    assert [c.id for c in world.live_for_user(1)] == expected
    assert [c.id for c in world.index("Course", 101)] == expected


_created = st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=40)


@given(created=_created, size=st.integers(min_value=1, max_value=12))
def test_bookmark_and_numbered_pages_partition_the_list(created: list[int], size: int) -> None:
    world = World(clock=FakeClock())
    for minutes in created:
        world.create_conference(created_at=T0 - timedelta(minutes=minutes))
    everything = world.index("Course", 101)
    seen, page_param = [], None
    while True:
        page = bookmark_page(everything, page_param, size)
        seen += page.items
        if page.next_page is None:
            break
        assert decode_bookmark(page.next_page) == page.items[-1].sort_key
        page_param = page.next_page
    assert seen == everything
    numbered = []
    for number in range(1, len(everything) // size + 3):
        numbered += numbered_page(everything, number, size)[0].items
    assert numbered == everything


# for_user over HTTP


async def test_bookmark_pagination_of_250_live_conferences(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    for i in range(250):
        conf = world.create_conference(created_at=T0 - timedelta(seconds=i % 7))
        world.start(conf.id)
    world.create_conference()  # not started: never in the live list
    expected = [c.id for c in world.live_for_user(1)]
    url = "/api/v1/conferences?state=live&per_page=100"
    pages: list[list[int]] = []
    rel_lists = []
    while url:
        status, body, resp = await get_json(http, url)
        assert status == 200
        assert isinstance(body, dict)
        pages.append([c["id"] for c in body["conferences"]])
        rels = links(resp.headers["Link"])
        rel_lists.append([rel for rel, _ in rels])
        for _, link in rels:
            assert "state=live" in link
            assert "per_page=100" in link
        url = dict(rels).get("next", "")
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == expected
    assert len(set(expected)) == 250
    assert rel_lists == [["current", "next", "first"]] * 2 + [["current", "first", "last"]]


async def test_bookmarks_do_not_repeat_or_skip_when_the_list_changes(
    sim: Simulator, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    for _ in range(15):
        sim.world.start(sim.world.create_conference().id)
    before = [c.id for c in sim.world.live_for_user(1)]
    _, first, resp = await get_json(http, "/api/v1/conferences?state=live")
    clock.now += timedelta(seconds=1)
    sim.world.start(sim.world.create_conference().id)  # sorts first: must not shift page 2
    _, second, _ = await get_json(http, str(resp.links["next"]["url"]))
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    ids = [c["id"] for c in first["conferences"] + second["conferences"]]
    assert ids == before


@pytest.mark.parametrize(
    ("per_page", "expected"),
    [(None, 10), ("0", 1), ("-5", 1), ("abc", 1), ("7", 7), ("100", 100), ("1000", 100)],
)
async def test_per_page_is_clamped_like_canvas(
    sim: Simulator, http: aiohttp.ClientSession, per_page: str | None, expected: int
) -> None:
    for _ in range(120):
        sim.world.start(sim.world.create_conference().id)
    query = "" if per_page is None else f"&per_page={per_page}"
    _, body, resp = await get_json(http, f"/api/v1/conferences?state=live{query}")
    assert isinstance(body, dict)
    assert len(body["conferences"]) == expected
    assert f"per_page={expected}>" in resp.headers["Link"]


async def test_without_state_for_user_lists_every_conference_of_the_user(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    live = world.start(world.create_conference().id)
    ended = world.create_conference()
    world.start(ended.id)
    world.end(ended.id)
    unstarted = world.create_conference()
    world.create_conference(participants=(2,))  # not the token's user's conference
    world.add_context("Course", 303)
    world.create_conference(context_id=303)  # a course the user is not enrolled in
    for query in ("", "?state=ended"):
        _, body, _ = await get_json(http, f"/api/v1/conferences{query}")
        assert isinstance(body, dict)
        assert [c["id"] for c in body["conferences"]] == [unstarted.id, ended.id, live.id]
    _, body, _ = await get_json(http, "/api/v1/conferences?state=live")
    assert body == {"conferences": [world.api_json(live, base_url=sim.url)]}


async def test_no_conference_plugin_means_an_empty_list(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.start(sim.world.create_conference().id)
    sim.world.plugins_configured = False
    status, body, _ = await get_json(http, "/api/v1/conferences?state=live")
    assert (status, body) == (200, {"conferences": []})


async def test_link_header_quirks_for_client_tests(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    for _ in range(3):
        sim.world.start(sim.world.create_conference().id)
    sim.link_header_lowercase = True
    sim.link_host_upper = True
    url = "/api/v1/conferences?state=live&per_page=2"
    async with http.get(url, headers={"Host": "canvas.test:8443"}) as resp:
        names = [name for name, _ in resp.raw_headers]
        assert b"link" in names
        assert b"Link" not in names
        next_url = dict(links(resp.headers["link"]))["next"]
        body = await resp.json()
    assert next_url.startswith("http://CANVAS.TEST:8443/api/v1/conferences?state=live&page=")
    assert body["conferences"][0]["url"].startswith("http://canvas.test:8443/courses/101/")
    _, second, _ = await get_json(http, next_url.replace("http://CANVAS.TEST:8443", sim.url))
    assert isinstance(second, dict)
    assert len(second["conferences"]) == 1


async def test_access_token_query_parameter_authenticates(sim: Simulator) -> None:
    url = f"{sim.url}/api/v1/users/self?access_token=sim-token"
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as resp:
        assert resp.status == 200


# index over HTTP


async def test_index_pages_by_number_and_ignores_state(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    for i in range(25):
        conf = world.create_conference()
        if i % 2:
            world.start(conf.id)
            world.end(conf.id)
    world.create_conference(context_id=202)
    expected = [c.id for c in world.index("Course", 101)]
    base = "/api/v1/courses/101/conferences?state=live&per_page=10"
    seen = []
    for page, rels in [
        (1, ["current", "next", "first", "last"]),
        (2, ["current", "next", "prev", "first", "last"]),
        (3, ["current", "prev", "first", "last"]),
    ]:
        _, body, resp = await get_json(http, f"{base}&page={page}")
        assert isinstance(body, dict)
        seen += [c["id"] for c in body["conferences"]]
        parsed = links(resp.headers["Link"])
        assert [rel for rel, _ in parsed] == rels
        urls = dict(parsed)
        assert urls["current"].endswith(f"?state=live&page={page}&per_page=10")
        assert urls["last"].endswith("page=3&per_page=10")
    assert seen == expected
    assert len(seen) == 25
    status, body, resp = await get_json(http, f"{base}&page=4")
    assert (status, body) == (200, {"conferences": []})
    assert [rel for rel, _ in links(resp.headers["Link"])] == ["current", "prev", "first", "last"]
    _, body, _ = await get_json(http, "/api/v1/courses/101/conferences")
    assert isinstance(body, dict)
    assert len(body["conferences"]) == 10


async def test_groups_have_an_index_too(sim: Simulator, http: aiohttp.ClientSession) -> None:
    conf = sim.world.create_conference(context_type="Group", context_id=7)
    _, body, _ = await get_json(http, "/api/v1/groups/7/conferences")
    assert isinstance(body, dict)
    assert [c["id"] for c in body["conferences"]] == [conf.id]
    status, _, _ = await get_json(http, "/api/v1/groups/101/conferences")
    assert status == 404


async def test_losing_participation_hides_from_for_user_but_not_from_index(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.add_token("teacher", 2)
    world.enroll(2, "Course", 101)
    removed = world.start(world.create_conference(participants=(1, 2)).id)
    unenrolled = world.start(world.create_conference(context_id=202, participants=(1, 2)).id)
    world.enroll(2, "Course", 202)
    world.remove_participant(removed.id, 1)
    world.unenroll(1, "Course", 202)
    assert world.live_for_user(1) == []
    _, body, _ = await get_json(http, "/api/v1/conferences?state=live")
    assert body == {"conferences": []}
    _, body, _ = await get_json(http, "/api/v1/courses/101/conferences")
    assert isinstance(body, dict)
    assert [c["id"] for c in body["conferences"]] == [removed.id]
    assert body["conferences"][0]["ended_at"] is None
    teacher = {"Authorization": "Bearer teacher"}
    async with http.get("/api/v1/courses/202/conferences", headers=teacher) as resp:
        assert [c["id"] for c in (await resp.json())["conferences"]] == [unenrolled.id]
    async with http.get("/api/v1/conferences?state=live", headers=teacher) as resp:
        assert {c["id"] for c in (await resp.json())["conferences"]} == {removed.id, unenrolled.id}


# errors


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (None, "Invalid access token."),
        ("revoke", "Revoked access token."),
        ("expire", "Expired access token."),
    ],
)
async def test_bad_tokens_answer_401_with_canvas_message(
    sim: Simulator, change: str | None, message: str
) -> None:
    sim.world.add_token("doomed", 1)
    if change == "revoke":
        sim.world.revoke_token("doomed")
    elif change == "expire":
        sim.world.expire_token("doomed")
    token = "doomed" if change else "no-such-token"
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        for headers in ({"Authorization": f"Bearer {token}"},) + (({},) if change is None else ()):
            for path in ("/api/v1/conferences", "/api/v1/courses/101/conferences"):
                async with session.get(path, headers=headers) as resp:
                    assert resp.status == 401
                    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
                    assert await resp.json() == {"errors": [{"message": message}]}


async def test_non_member_gets_unauthorized_without_www_authenticate(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.add_context("Course", 303)
    async with http.get("/api/v1/courses/303/conferences") as resp:
        assert resp.status == 401
        assert "WWW-Authenticate" not in resp.headers
        assert await resp.json() == {
            "status": "unauthorized",
            "errors": [{"message": "user not authorized to perform that action"}],
        }


async def test_disabled_tab_and_unknown_things_answer_404(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.set_conferences_tab("Course", 101, False)
    status, body, _ = await get_json(http, "/api/v1/courses/101/conferences")
    assert status == 404
    assert isinstance(body, dict)
    assert set(body) == {"message"}
    assert "disabled" in body["message"]
    not_found = {"errors": [{"message": "The specified resource does not exist."}]}
    for path in ("/api/v1/courses/999/conferences", "/api/v1/courses/abc/conferences", "/nope"):
        assert (await get_json(http, path))[:2] == (404, not_found)
    async with http.post("/api/v1/conferences") as resp:
        assert resp.status == 404
        assert await resp.json() == not_found


async def test_users_self(http: aiohttp.ClientSession) -> None:
    status, body, resp = await get_json(http, "/api/v1/users/self")
    assert status == 200
    assert isinstance(body, dict)
    assert (body["id"], body["name"]) == (1, "Sim User")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert float(resp.headers["X-Rate-Limit-Remaining"]) <= 600
    assert float(resp.headers["X-Request-Cost"]) > 0


async def test_json_is_compact_like_rails(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.world.create_conference()
    async with http.get("/api/v1/courses/101/conferences") as resp:
        raw = await resp.text()
    assert raw == json.dumps(json.loads(raw), separators=(",", ":"))
