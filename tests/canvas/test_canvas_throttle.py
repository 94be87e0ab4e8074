"""One token, one lane (invariant 7): throttling waited out, not failed at once; the Lane itself;
and the two headers that steer the client, ``Link`` and ``Retry-After``.

The simulator's leaky bucket throttles for real. Every throttled answer also reports
``X-Rate-Limit-Remaining <= 0``, and the lane keeps ``LOW_WATER`` units of headroom assuming
Canvas drains ``Timings.canvas_outflow`` = 10 units/s, which alone is a pause of 10 s or more.
Tests that measure the ``Retry-After`` wait let the lane believe in a 100x faster drain
(``QUICK_SOFT_PAUSE``), so what they time is the throttle wait; the soft pause has its own tests
with the real figures.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from multidict import CIMultiDict

from monitor.canvas.http_headers import next_link, retry_after
from monitor.canvas.lane import Deadline, Lane, courtesy_pause
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.timings import Timings
from monitor.observe.metrics import Metrics
from monitor.simulator import Simulator
from tests.support.canvas_helpers import (
    ScriptedCanvas,
    fast_source,
    http_session,
    make_client,
    new_metrics,
    sample,
    start_live,
)

TOKEN_HEADERS = {"Authorization": "Bearer sim-token"}
#: ``random.Random(14)`` makes the first throttle wait without ``Retry-After`` 1.107 s.
SHORT_THROTTLE_SEED = 14
#: Production's timings, but a courtesy pause 100x shorter: what a test times is Canvas's wait.
QUICK_SOFT_PAUSE = Timings(canvas_outflow=1000.0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as http:
        yield http


@pytest.fixture
def metrics() -> Metrics:
    return new_metrics()


async def overfill(
    sim: Simulator, session: aiohttp.ClientSession, *, outflow: float, over: float = 50
) -> None:
    """Another integration on the same token leaves the bucket ``over`` units over the mark."""
    sim.throttle.configure(
        {
            "high_water_mark": 300,
            "up_front_cost": 50,
            "request_cost": 300 + over,
            "outflow": outflow,
        }
    )
    async with session.get(f"{sim.url}/api/v1/users/self", headers=TOKEN_HEADERS) as resp:
        assert resp.status == 200
    sim.throttle.configure({"request_cost": 1})


def statuses(sim: Simulator) -> list[int]:
    return [r.status for r in sim.requests]


def requests(metrics: Metrics, code: str) -> float | None:
    return sample(metrics, "conference_monitor_canvas_requests_total", source="main", code=code)


# throttling against the simulator's leaky bucket


@pytest.mark.parametrize("mode", ["403", "429"])
async def test_throttled_request_waits_retry_after_then_succeeds(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics, mode: str
) -> None:
    ids = start_live(sim, 3)
    sim.throttle.mode = mode
    sim.throttle.retry_after = True  # 50 units over at 100/s: Retry-After: 1
    await overfill(sim, session, outflow=100)
    source = fast_source(sim.url, poll_timeout=3.0)
    client = make_client(session, source, metrics, timings=QUICK_SOFT_PAUSE)
    began = time.monotonic()
    found = await client.live(Deadline(3.0))
    elapsed = time.monotonic() - began
    assert sorted(c.id for c in found) == sorted(ids)
    assert statuses(sim) == [200, int(mode), 200]
    assert requests(metrics, mode) == 1
    assert 1.0 <= elapsed < 1.5  # Retry-After honoured, and not much more


async def test_throttled_403_without_retry_after_backs_off_then_succeeds(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    start_live(sim, 1)
    await overfill(sim, session, outflow=100)
    source = fast_source(sim.url, poll_timeout=3.0)
    client = make_client(
        session, source, metrics, seed=SHORT_THROTTLE_SEED, timings=QUICK_SOFT_PAUSE
    )
    expected = random.Random(SHORT_THROTTLE_SEED).uniform(0.5, 1.0) * 2  # noqa: S311 - as the client draws
    began = time.monotonic()
    assert len(await client.live(Deadline(3.0))) == 1
    assert expected <= time.monotonic() - began < expected + 0.4
    assert statuses(sim) == [200, 403, 200]


@pytest.mark.parametrize("mode", ["403", "429"])
async def test_throttled_past_the_budget_fails_at_once_as_throttled(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics, mode: str
) -> None:
    sim.throttle.mode = mode
    sim.throttle.retry_after = True  # 50 units over at 10/s: Retry-After: 5
    await overfill(sim, session, outflow=10)
    client = make_client(session, fast_source(sim.url), metrics)
    began = time.monotonic()
    with pytest.raises(CanvasError) as info:
        await client.live(Deadline(2.0))
    assert (info.value.reason, info.value.status) == (PollFailure.THROTTLED, int(mode))
    assert time.monotonic() - began < 0.3  # no point waiting for what cannot come in time
    assert statuses(sim) == [200, int(mode)]


async def test_backoff_without_retry_after_past_the_budget_is_throttled(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    await overfill(sim, session, outflow=100)
    client = make_client(session, fast_source(sim.url), metrics, seed=SHORT_THROTTLE_SEED)
    with pytest.raises(CanvasError) as info:
        await client.live(Deadline(1.0))  # the first throttle wait is 1.107 s
    assert info.value.reason is PollFailure.THROTTLED


async def test_throttled_403_past_the_budget_is_not_a_definite_answer(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    sim.throttle.retry_after = True
    await overfill(sim, session, outflow=10)
    client = make_client(session, fast_source(sim.url), metrics)
    with pytest.raises(CanvasError) as info:
        await client.context("Course", 101, Deadline(2.0))
    assert info.value.reason is PollFailure.THROTTLED
    assert info.value.definite is False  # a passing fault: the confirmation must be retried


async def test_a_short_throttle_is_waited_out_within_the_default_budget(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    start_live(sim, 1)
    sim.throttle.mode = "429"
    sim.throttle.retry_after = True
    await overfill(sim, session, outflow=10, over=5)  # Retry-After: 1, remaining -5
    # poll_timeout is max(10, poll_interval) in config: 10 s for any interval up to 10 s.
    client = make_client(session, fast_source(sim.url, poll_timeout=10.0), metrics)
    began = time.monotonic()
    found = await client.live(Deadline(10.0))
    assert len(found) == 1
    assert 1.0 <= time.monotonic() - began < 3.0


# Retry-After forms the simulator does not send (fractions, HTTP dates)


async def test_fractional_retry_after_is_honoured(
    session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    async with ScriptedCanvas() as canvas:
        canvas.answer("/api/v1/conferences", 429, headers={"Retry-After": "0.4"}, body=b"{}")
        canvas.answer("/api/v1/conferences", payload={"conferences": [{"id": 5}]})
        client = make_client(session, fast_source(canvas.url), metrics)
        began = time.monotonic()
        found = await client.live(Deadline(2))
        assert 0.4 <= time.monotonic() - began < 0.8
        assert [c.id for c in found] == [5]
        assert len(canvas.seen) == 2


async def test_retry_after_as_an_http_date_is_understood(
    session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    passed = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    async with ScriptedCanvas() as canvas:
        canvas.answer("/api/v1/conferences", 429, headers={"Retry-After": passed})
        canvas.answer("/api/v1/conferences", payload={"conferences": [{"id": 5}]})
        client = make_client(session, fast_source(canvas.url), metrics)
        began = time.monotonic()
        assert [c.id for c in await client.live(Deadline(2))] == [5]
        # A date already past means "now"; an unreadable value would have meant >= 1 s of backoff.
        assert time.monotonic() - began < 0.5


# X-Rate-Limit-Remaining


async def test_rate_limit_remaining_is_exported(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    name = "conference_monitor_canvas_rate_limit_remaining"
    before = sample(metrics, name, source="main")
    assert before is not None
    assert math.isnan(before)
    await make_client(session, fast_source(sim.url), metrics).live(Deadline(2))
    assert sample(metrics, name, source="main") == pytest.approx(599.0, abs=0.1)


async def test_low_rate_limit_remaining_eases_the_lane_off(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    sim.throttle.configure({"request_cost": 550})  # leaves 50 of 600: a 5 s courtesy pause
    client = make_client(session, fast_source(sim.url), metrics)
    await client.live(Deadline(2))
    remaining = sample(metrics, "conference_monitor_canvas_rate_limit_remaining", source="main")
    assert remaining == pytest.approx(50.0, abs=0.1)
    sim.throttle.configure({"request_cost": 1})
    began = time.monotonic()
    await client.live(Deadline(2))  # the courtesy takes at most half the budget: about 1 s
    assert 0.95 <= time.monotonic() - began < 1.5
    assert statuses(sim) == [200, 200]


async def test_one_lane_keeps_concurrent_pollers_sequential_so_the_bucket_holds(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    # Four 50-unit reservations fit under the mark; five in parallel would be refused one.
    sim.throttle.configure({"high_water_mark": 200, "outflow": 0, "request_cost": 0})
    sim.latency = 0.05
    start_live(sim, 2)
    lane = Lane(1000.0)
    clients = [make_client(session, fast_source(sim.url), metrics, lane=lane) for _ in range(5)]
    began = time.monotonic()
    results = await asyncio.gather(*(c.live(Deadline(2)) for c in clients))
    assert [len(r) for r in results] == [2] * 5
    assert statuses(sim) == [200] * 5
    assert time.monotonic() - began >= 5 * 0.05  # one after the other


# the Lane itself


async def test_lane_never_lets_two_callers_overlap() -> None:
    lane = Lane(1000.0)
    inside = 0
    peak = 0
    served: list[int] = []

    async def caller(n: int) -> None:
        nonlocal inside, peak
        async with lane.turn(Deadline(5)):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            served.append(n)
            inside -= 1

    await asyncio.gather(*(caller(n) for n in range(6)))
    assert peak == 1
    assert sorted(served) == list(range(6))


async def test_lane_spaces_requests_to_its_rate_limit() -> None:
    lane = Lane(20.0)  # one request every 50 ms
    starts: list[float] = []
    for _ in range(4):
        async with lane.turn(Deadline(5)):
            starts.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.049 for gap in gaps), gaps
    assert starts[-1] - starts[0] < 0.3


async def test_lane_pause_delays_the_next_turn_and_is_never_shortened() -> None:
    lane = Lane(1000.0)
    lane.pause(0.2)
    lane.pause(0.05)  # a shorter pause does not cut the longer one
    began = time.monotonic()
    async with lane.turn(Deadline(5)):
        assert time.monotonic() - began >= 0.2


async def test_lane_refuses_a_pause_longer_than_the_budget_at_once() -> None:
    lane = Lane(1000.0)
    lane.pause(5.0)
    began = time.monotonic()
    with pytest.raises(CanvasError) as info:
        async with lane.turn(Deadline(1.0)):
            pytest.fail("the turn must not be granted")
    assert info.value.reason is PollFailure.THROTTLED
    assert info.value.definite is False
    assert time.monotonic() - began < 0.05


@pytest.mark.parametrize(
    ("remaining", "pause"),
    [(600.0, 0.0), (100.0, 0.0), (99.0, 0.1), (50.0, 5.0), (0.0, 10.0), (-5000.0, 30.0)],
)
def test_courtesy_pause_grows_as_remaining_falls_and_is_capped(
    remaining: float, pause: float
) -> None:
    assert courtesy_pause(remaining) == pytest.approx(pause)


async def test_lane_waits_out_a_short_courtesy_pause() -> None:
    lane = Lane(1000.0)
    lane.observe_remaining(98.0)  # 0.2 s
    began = time.monotonic()
    async with lane.turn(Deadline(5)):
        assert 0.2 <= time.monotonic() - began < 0.3


async def test_lane_courtesy_never_takes_more_than_half_the_budget() -> None:
    lane = Lane(1000.0)
    lane.observe_remaining(-5000.0)  # 30 s of courtesy, but only 0.4 s of budget
    began = time.monotonic()
    async with lane.turn(Deadline(0.4)):
        assert 0.19 <= time.monotonic() - began < 0.3


# the headers

CANVAS_LINK = (
    '<https://c.test/api/v1/conferences?state=live&page=first&per_page=100>; rel="current",'
    '<https://c.test/api/v1/conferences?state=live&page=bookmark:WzEsMl0&per_page=100>; rel="next",'
    '<https://c.test/api/v1/conferences?state=live&page=first&per_page=100>; rel="first"'
)
NEXT = "https://c.test/api/v1/conferences?state=live&page=bookmark:WzEsMl0&per_page=100"


def test_next_link_reads_canvas_link_headers() -> None:
    assert next_link({"Link": CANVAS_LINK}) == NEXT
    assert next_link({"link": CANVAS_LINK}) == NEXT
    assert next_link(CIMultiDict({"LINK": CANVAS_LINK})) == NEXT
    assert next_link({"Link": "<https://c.test/x?page=2>; rel=next"}) == "https://c.test/x?page=2"
    assert next_link({"Link": '<https://c.test/x?page=2> ; rel="next last"'}) == (
        "https://c.test/x?page=2"
    )
    last_page = '<https://c.test/x?page=3>; rel="current",<https://c.test/x?page=3>; rel="last"'
    assert next_link({"Link": last_page}) is None
    assert next_link({}) is None
    assert next_link({"Link": "garbage"}) is None


def test_next_link_reads_any_case_of_a_plain_mapping() -> None:
    assert next_link({"LINK": CANVAS_LINK}) == NEXT


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("5") == 5.0
    assert retry_after("0.25") == 0.25
    assert retry_after("-3") == 0.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    wait = retry_after(soon)
    assert wait is not None
    assert 1.5 < wait <= 3.0
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after(past) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Wed, 99 Foo 2026 25:61:00 GMT", "1s"])
def test_retry_after_without_a_usable_value_is_none(value: str | None) -> None:
    assert retry_after(value) is None


async def test_a_retry_after_beyond_the_budget_still_holds_the_next_poll(
    session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    async with ScriptedCanvas() as canvas:
        canvas.answer("/api/v1/conferences", 429, headers={"Retry-After": "1"})
        canvas.answer("/api/v1/conferences", payload={"conferences": [{"id": 5}]})
        client = make_client(session, fast_source(canvas.url), metrics)
        with pytest.raises(CanvasError) as info:
            await client.live(Deadline(0.5))  # this poll cannot wait 1 s: it gives up at once
        assert info.value.reason is PollFailure.THROTTLED
        gave_up = time.monotonic()
        assert [c.id for c in await client.live(Deadline(3))] == [5]
        # The next poll waited out what Canvas asked instead of asking again at once.
        assert time.monotonic() - gave_up >= 0.95
        assert len(canvas.seen) == 2
