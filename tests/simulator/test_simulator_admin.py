"""The ``/_sim/`` admin API, the simulator's lifecycle and the demo script.

The admin API is how a simulator in another process is driven, so every round trip is checked
against the ground truth and against what a Canvas client then sees.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from monitor.simulator import Simulator, World, run_demo_script

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield session


async def admin(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    async with http.request(method, f"/_sim/{path}", json=body) as resp:
        data = await resp.json()
        assert resp.status == status, data
        return data


async def live_ids(http: aiohttp.ClientSession, token: str = TOKEN) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get("/api/v1/conferences?state=live", headers=headers) as resp:
        assert resp.status == 200
        return [c["id"] for c in (await resp.json())["conferences"]]


async def test_conference_lifecycle_round_trip(sim: Simulator, http: aiohttp.ClientSession) -> None:
    made = await admin(
        http,
        "POST",
        "conferences",
        {"title": "Round trip", "participants": [1, 3], "duration": None, "start": True},
        status=201,
    )
    conf_id = made["id"]
    assert made["live"] is True
    assert made["long_running"] is True
    assert made["started_at"].endswith("Z")
    assert made["ended_at"] is None
    assert made["url"] == f"{sim.url}/courses/101/conferences/{conf_id}"
    assert await live_ids(http) == [conf_id]
    ended = await admin(http, "POST", f"conferences/{conf_id}/end")
    assert ended["live"] is False
    assert ended["ended_at"].endswith("Z")
    assert await live_ids(http) == []
    again = await admin(http, "POST", f"conferences/{conf_id}/restart")
    assert again["started_at"] == made["started_at"]
    assert again["ended_at"] is None
    assert await live_ids(http) == [conf_id]
    dropped = await admin(http, "POST", f"conferences/{conf_id}/participants/1/remove")
    assert dropped["users"] == [3]
    assert dropped["live"] is True
    assert await live_ids(http) == []
    await admin(http, "POST", f"conferences/{conf_id}/participants/1/add")
    assert await live_ids(http) == [conf_id]
    state = await admin(http, "GET", "state")
    assert [c["id"] for c in state["conferences"]] == [conf_id]
    assert state["conferences"][0]["live"] is True
    assert state["now"].endswith("Z")
    await admin(http, "DELETE", f"conferences/{conf_id}")
    assert (await admin(http, "GET", "state"))["conferences"] == []
    assert sim.world.conferences() == []


async def test_create_with_explicit_times_and_start_end_at(http: aiohttp.ClientSession) -> None:
    made = await admin(
        http,
        "POST",
        "conferences",
        {
            "context_type": "Group",
            "context_id": 7,
            "conference_id": 77,
            "created_at": "2024-05-01T09:00:00Z",
            "started_at": "2024-05-01T10:00:00+02:00",
            "ended_at": "2024-05-01T11:30:00Z",
            "record": True,
        },
        status=201,
    )
    assert made["id"] == 77
    assert made["context_type"] == "Group"
    assert made["started_at"] == "2024-05-01T08:00:00Z"
    assert made["ended_at"] == "2024-05-01T11:30:00Z"
    assert made["recordings"][0]["duration_minutes"] == 210
    fresh = await admin(http, "POST", "conferences", {}, status=201)
    started = await admin(
        http, "POST", f"conferences/{fresh['id']}/start", {"at": "2024-05-02T10:00:00Z"}
    )
    assert started["started_at"] == "2024-05-02T10:00:00Z"
    assert started["live"] is False


async def test_tokens_contexts_and_enrollments(sim: Simulator, http: aiohttp.ClientSession) -> None:
    await admin(http, "POST", "tokens", {"token": "t2", "user_id": 2})
    await admin(http, "POST", "contexts", {"context_type": "Course", "context_id": 303})
    await admin(
        http, "POST", "enrollments", {"user_id": 2, "context_type": "Course", "context_id": 303}
    )
    made = await admin(
        http,
        "POST",
        "conferences",
        {"context_id": 303, "participants": [2], "start": True},
        status=201,
    )
    assert await live_ids(http, "t2") == [made["id"]]
    await admin(
        http,
        "POST",
        "contexts",
        {"context_type": "Course", "context_id": 303, "conferences_tab": False},
    )
    async with http.get(
        "/api/v1/courses/303/conferences", headers={"Authorization": "Bearer t2"}
    ) as resp:
        assert resp.status == 404
        assert "message" in await resp.json()
    await admin(
        http,
        "POST",
        "enrollments/remove",
        {"user_id": 2, "context_type": "Course", "context_id": 303},
    )
    assert await live_ids(http, "t2") == []
    await admin(http, "POST", "tokens/t2/expire")
    async with http.get("/api/v1/users/self", headers={"Authorization": "Bearer t2"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["errors"][0]["message"] == "Expired access token."
    await admin(http, "POST", "tokens/t2/revoke")
    assert sim.world.is_member(2, "Course", 303) is False


async def test_throttle_faults_latency_options_and_requests(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    settings = await admin(http, "POST", "throttle", {"mode": "429", "retry_after": True})
    assert settings["mode"] == "429"
    assert settings["high_water_mark"] == 600
    assert sim.throttle.mode == "429"
    assert sim.throttle.retry_after is True
    rule = await admin(
        http,
        "POST",
        "faults",
        {"kind": "status", "path": "/api/v1/conferences", "status": 503, "times": None},
        status=201,
    )
    listed = await admin(http, "GET", "faults")
    assert listed["faults"][0]["id"] == rule["id"]
    assert listed["faults"][0]["times"] is None
    async with http.get("/api/v1/conferences", headers=AUTH) as resp:
        assert resp.status == 503
    await admin(http, "DELETE", "faults")
    assert sim.faults.rules == []
    await admin(http, "POST", "latency", {"seconds": 0.01})
    assert sim.latency == 0.01
    opts = await admin(http, "POST", "options", {"link_header_lowercase": True})
    assert opts["link_header_lowercase"] is True
    assert sim.link_header_lowercase is True
    async with http.get("/api/v1/conferences?per_page=5", headers=AUTH) as resp:
        assert resp.status == 200
    counts = await admin(http, "GET", "requests?prefix=/api/v1/conferences")
    assert counts["total"] == 2
    assert counts["count"] == 2
    assert counts["by_path"] == {"/api/v1/conferences": 2}
    assert counts["requests"][0] == ["GET", "/api/v1/conferences", 503]
    await admin(http, "DELETE", "requests")
    assert len(sim.requests) == 0


async def test_reset_restores_the_default_world(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    world.start(world.create_conference().id)
    world.revoke_token("sim-token")
    sim.faults.add("reset")
    sim.throttle.mode = "429"
    sim.latency = 1.0
    await admin(http, "POST", "reset")
    assert sim.world is world
    assert world.conferences() == []
    assert world.authenticate("sim-token") == 1
    assert (sim.faults.rules, sim.throttle.mode, sim.latency) == ([], "403", 0.0)
    assert world.create_conference().id == 1000


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "conferences", {"duration": "long"}, 400),
        ("POST", "conferences", {"participants": [1, "x"]}, 400),
        ("POST", "conferences", {"context_type": "Account"}, 400),
        ("POST", "conferences", {"colour": "red"}, 400),
        ("POST", "conferences", {"created_at": "2024-05-01T09:00:00"}, 400),
        ("POST", "conferences", {"context_id": 999}, 404),
        ("POST", "conferences/1000/start", None, 404),
        ("POST", "conferences/abc/start", None, 400),
        ("POST", "tokens", {"token": "x"}, 400),
        ("POST", "tokens/nope/revoke", None, 404),
        ("POST", "throttle", {"mode": "418"}, 400),
        ("POST", "throttle", {"outflow": -1}, 400),
        ("POST", "faults", {"path": "/api"}, 400),
        ("POST", "faults", {"kind": "slow", "delay": "soon"}, 400),
        ("POST", "latency", {"seconds": -1}, 400),
        ("GET", "nothing-here", None, 404),
    ],
)
async def test_bad_admin_input_names_the_problem(
    http: aiohttp.ClientSession, method: str, path: str, body: Any, status: int
) -> None:
    data = await admin(http, method, path, body, status=status)
    assert isinstance(data["error"], str)
    assert data["error"]


async def test_bad_admin_json_and_bad_lifecycle(http: aiohttp.ClientSession) -> None:
    async with http.post("/_sim/conferences", data=b"{nope") as resp:
        assert resp.status == 400
        assert "body" in (await resp.json())["error"]
    async with http.post("/_sim/conferences", json=[1]) as resp:
        assert resp.status == 400
    made = await admin(http, "POST", "conferences", {}, status=201)
    data = await admin(http, "POST", f"conferences/{made['id']}/restart", status=400)
    assert "never started" in data["error"]


# lifecycle


async def test_url_port_and_restart_on_the_same_port() -> None:
    sim = Simulator()
    with pytest.raises(RuntimeError):
        _ = sim.url
    await sim.start()
    try:
        url = sim.url
        assert url.startswith("http://127.0.0.1:")
        assert sim.port > 0
        with pytest.raises(RuntimeError):
            await sim.start()
    finally:
        await sim.stop()
    with pytest.raises(RuntimeError):
        _ = sim.url
    await sim.stop()  # stopping twice is harmless
    second = Simulator(sim.world, port=sim.port)  # Canvas "comes back" where it was
    async with second, aiohttp.ClientSession() as session:
        assert second.url == url
        async with session.get(f"{url}/api/v1/users/self", headers=AUTH) as resp:
            assert resp.status == 200


async def test_stop_does_not_wait_for_a_held_request() -> None:
    sim = Simulator()
    await sim.start()
    sim.faults.add("timeout")
    async with aiohttp.ClientSession() as session:
        held = asyncio.create_task(session.get(f"{sim.url}/api/v1/users/self", headers=AUTH))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await sim.stop()
        assert loop.time() - began < 2
        with pytest.raises(aiohttp.ClientError):
            await held


# the demo script


async def test_demo_script_starts_ends_restarts_and_drops() -> None:
    world = World()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_demo_script(world, rng=random.Random(7), stop=stop, tick=0.01)  # noqa: S311
    )
    await asyncio.sleep(0)
    assert len(world.live_for_user(1)) >= 4  # some are live right away
    counts: list[int] = []
    async with asyncio.timeout(5):
        while True:
            await asyncio.sleep(0.01)
            confs = world.conferences()
            counts.append(sum(world.is_live(c) for c in confs))
            ended = [c for c in confs if c.ended_at is not None]
            restarted = [c for c in confs if c.generation > 0]
            dropped = [c for c in confs if world.is_live(c) and 1 not in c.users]
            if ended and restarted and dropped and len(counts) >= 20:
                break
    stop.set()
    async with asyncio.timeout(1):
        await task
    assert all(3 <= n <= 12 for n in counts), counts
    assert len(world.conferences()) <= 60 + 13 + 5
