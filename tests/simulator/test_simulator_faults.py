"""The simulator's throttle and fault injection, seen from a real HTTP client.

These are the failure modes the monitor's client must survive, so each must really happen on
the wire: a 403/429 with the right headers, a dropped connection, a short body, bad JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from monitor.simulator import FaultInjector, Simulator

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIVE = "/api/v1/conferences?state=live"
CANVAS_500 = {"errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}]}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        for _ in range(3):
            simulator.world.start(simulator.world.create_conference().id)
        yield simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url, headers=AUTH) as session:
        yield session


async def fetch(
    http: aiohttp.ClientSession, url: str = LIVE, token: str = TOKEN
) -> tuple[int, bytes, dict[str, str]]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.read(), dict(resp.headers)


# throttle


def tight_throttle(sim: Simulator, mode: str) -> None:
    """Two requests fit, the third is refused; nothing leaks, so it stays that way."""
    sim.throttle.configure(
        {"high_water_mark": 100, "up_front_cost": 50, "request_cost": 60, "outflow": 0}
    )
    sim.throttle.mode = mode


async def test_throttle_403_mode(sim: Simulator, http: aiohttp.ClientSession) -> None:
    tight_throttle(sim, "403")
    first, second, third = [await fetch(http) for _ in range(3)]
    assert first[0] == second[0] == 200
    assert float(first[2]["X-Rate-Limit-Remaining"]) == pytest.approx(40)
    assert float(second[2]["X-Rate-Limit-Remaining"]) == pytest.approx(-20)
    assert float(second[2]["X-Request-Cost"]) == pytest.approx(60)
    status, body, headers = third
    assert (status, body) == (403, b"403 Forbidden (Rate Limit Exceeded)")
    assert float(headers["X-Rate-Limit-Remaining"]) == pytest.approx(-20)
    assert "X-Request-Cost" in headers
    assert "Retry-After" not in headers
    assert (await fetch(http, token="another"))[0] == 401  # another token, another bucket


async def test_throttle_429_mode_with_retry_after(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    tight_throttle(sim, "429")
    sim.throttle.configure({"outflow": 4, "retry_after": True})
    statuses = [(await fetch(http))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, _, headers = await fetch(http)
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 5  # 20 over the mark at 4/s
    sim.throttle.enabled = False
    assert (await fetch(http))[0] == 200


async def test_parallel_requests_drain_the_bucket_through_reservations(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.throttle.configure({"high_water_mark": 200, "outflow": 0, "request_cost": 0})
    sim.latency = 0.2  # every request holds its 50-unit reservation meanwhile
    statuses = await asyncio.gather(*(fetch(http) for _ in range(5)))
    assert sorted(s for s, _, _ in statuses) == [200, 200, 200, 200, 403]
    assert sim.throttle.level("token:sim-token") == 0  # reservations are refunded
    assert (await fetch(http))[0] == 200


async def test_latency_is_added(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.latency = 0.15
    began = time.monotonic()
    assert (await fetch(http))[0] == 200
    assert time.monotonic() - began >= 0.15


# faults


async def test_status_fault_fires_times_then_stops(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    rule = sim.faults.add(kind="status", path="/api/v1/conferences", times=2)
    for _ in range(2):
        status, body, headers = await fetch(http)
        assert status == 500
        assert json.loads(body) == CANVAS_500
        assert "X-Rate-Limit-Remaining" in headers
    assert sim.faults.remaining(rule) == 0
    assert (await fetch(http))[0] == 200
    sim.faults.add("status", "/api/v1/conferences", status=503, times=None)
    assert [(await fetch(http))[0] for _ in range(3)] == [503] * 3
    assert (await fetch(http, "/api/v1/users/self"))[0] == 200
    sim.faults.clear()
    assert (await fetch(http))[0] == 200


async def test_html_fault_looks_like_a_load_balancer(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.faults.add("html", "/api/v1/conferences")
    sim.faults.add("html", "/api/v1/conferences", status=504)
    status, body, headers = await fetch(http)
    assert status == 502
    assert headers["Content-Type"].startswith("text/html")
    assert b"<title>502 Bad Gateway</title>" in body
    assert (await fetch(http))[0] == 504


async def test_timeout_fault_outlasts_the_client(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.faults.add("timeout", "/api/v1/conferences")
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(LIVE, timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    assert (await fetch(http))[0] == 200
    assert sim.faults.rules == []


async def test_slow_fault_delays_then_answers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.faults.add("slow", "/api/v1/conferences", delay=0.2)
    began = time.monotonic()
    status, body, _ = await fetch(http)
    assert status == 200
    assert len(json.loads(body)["conferences"]) == 3
    assert time.monotonic() - began >= 0.2


async def test_bad_json_fault(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.faults.add("bad_json", "/api/v1/conferences")
    status, body, headers = await fetch(http)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError, match=r"Unterminated|Expecting|Extra"):
        json.loads(body)


@pytest.mark.parametrize(
    ("shape", "check"),
    [
        ("array", lambda d: isinstance(d, list) and len(d) == 3),
        ("missing", lambda d: isinstance(d, dict) and "conferences" not in d),
        ("not_list", lambda d: isinstance(d, dict) and isinstance(d["conferences"], dict)),
    ],
)
async def test_wrong_shape_fault(
    sim: Simulator, http: aiohttp.ClientSession, shape: str, check: object
) -> None:
    sim.faults.add("wrong_shape", "/api/v1/conferences", shape=shape)
    status, body, _ = await fetch(http)
    assert status == 200
    assert callable(check)
    assert check(json.loads(body))


async def test_reset_fault_drops_the_connection(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    # aiohttp silently retries an idempotent request once when the server hangs up ...
    sim.faults.add("reset", "/api/v1/conferences")
    assert (await fetch(http))[0] == 200
    assert [r.status for r in sim.requests] == [0, 200]
    # ... so it takes two resets in a row for the client to see one.
    sim.faults.add("reset", "/api/v1/conferences", times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(http)
    assert [r.status for r in sim.requests][2:] == [0, 0]
    assert (await fetch(http))[0] == 200


async def test_truncated_fault_cuts_the_body_short(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.faults.add("truncated", "/api/v1/conferences")
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(http)
    assert (await fetch(http))[0] == 200


async def test_bad_record_fault_mixes_broken_and_valid_records(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.faults.add("bad_record", "/api/v1/conferences")
    status, body, _ = await fetch(http)
    records = json.loads(body)["conferences"]
    assert status == 200
    assert len(records) == 6
    valid = [r["id"] for r in records if isinstance(r.get("id"), int)]
    assert valid == [c.id for c in sim.world.live_for_user(1)]
    assert sum("id" not in r for r in records) == 1
    assert {r["id"] for r in records if "id" in r and not isinstance(r["id"], int)} == {
        "not-a-number",
        None,
    }


async def test_page_rule_hits_only_that_page_of_a_bookmark_sequence(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.faults.add("status", "/api/v1/conferences", page=2, times=None)
    first = f"{LIVE}&per_page=2"
    async with http.get(first) as resp:
        assert resp.status == 200
        second = str(resp.links["next"]["url"])
    assert (await fetch(http, second))[0] == 500
    assert (await fetch(http, second))[0] == 500
    assert (await fetch(http, first))[0] == 200
    assert (await fetch(http, f"{LIVE}&per_page=2&page=first"))[0] == 200


async def test_page_rule_on_numbered_pages_and_path_segments(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.world.add_context("Course", 1010)
    sim.world.enroll(1, "Course", 1010)
    sim.faults.add("status", "/api/v1/courses/101/", page=2, status=502, times=None)
    course = "/api/v1/courses/101/conferences?per_page=1"
    assert (await fetch(http, course))[0] == 200
    assert (await fetch(http, f"{course}&page=2"))[0] == 502
    assert (await fetch(http, f"{course}&page=3"))[0] == 200
    assert (await fetch(http, "/api/v1/courses/1010/conferences?page=2"))[0] == 200


def test_fault_rules_are_validated() -> None:
    faults = FaultInjector()
    for bad in (
        {"kind": "explode"},
        {"kind": "status", "path": "api/v1"},
        {"kind": "status", "page": 0},
        {"kind": "status", "times": 0},
        {"kind": "status", "status": 42},
        {"kind": "slow", "delay": -1},
        {"kind": "wrong_shape", "shape": "triangle"},
        {"kind": "status", "colour": "red"},
    ):
        with pytest.raises(ValueError, match=r"."):
            faults.add(**bad)
    assert faults.rules == []


async def test_request_log_counts_canvas_requests_only(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    await fetch(http)
    await fetch(http, "/api/v1/courses/101/conferences")
    await fetch(http, "/_sim/state")
    assert len(sim.requests) == 2
    assert sim.requests.count("/api/v1/conferences") == 1
    assert sim.requests.count("/api/v1/") == 2
    assert sim.requests[0] == ("GET", LIVE, 200)
