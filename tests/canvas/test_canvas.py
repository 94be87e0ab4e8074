"""CanvasClient against the simulator: auth, pagination, and every failure mapped to its reason.

A real fake Canvas on loopback answers. What the simulator never says (a ``Link`` or redirect to
another origin, a malformed ``Link``) comes from ``ScriptedCanvas``, another loopback server
(aioresponses cannot build responses for aiohttp >= 3.14: pnuckowski/aioresponses#289). Retries
use the real backoff constants with a seeded jitter (``SMALL_DRAWS_SEED``).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.secret import Secret
from monitor.observe.metrics import Metrics
from monitor.simulator import Simulator
from tests.support.canvas_helpers import (
    LIVE,
    LoopbackResolver,
    ScriptedCanvas,
    Wiretap,
    fast_source,
    http_session,
    make_client,
    new_metrics,
    sample,
    start_live,
)

_NEXT = re.compile(r'<([^>]+)>; rel="next"')


def next_of(link: str | None) -> str | None:
    match = _NEXT.search(link or "")
    return match[1] if match else None


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


@pytest.fixture
def client(sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics) -> CanvasClient:
    return make_client(session, fast_source(sim.url), metrics)


async def failure(call: Awaitable[Any]) -> CanvasError:
    with pytest.raises(CanvasError) as info:
        await call
    return info.value


def requests(metrics: Metrics, code: str) -> float | None:
    return sample(metrics, "conference_monitor_canvas_requests_total", source="main", code=code)


def statuses(sim: Simulator) -> list[int]:
    return [r.status for r in sim.requests]


# pagination and auth


async def test_live_sends_the_token_and_follows_bookmark_links_exactly(
    sim: Simulator, metrics: Metrics
) -> None:
    ids = start_live(sim, 250)
    sim.world.create_conference()  # not started: not live
    wiretap = Wiretap()
    async with http_session(wiretap=wiretap) as http:
        found = await make_client(http, fast_source(sim.url), metrics).live(Deadline(2))
    assert len(found) == 250
    assert {c.id for c in found} == set(ids)
    assert statuses(sim) == [200, 200, 200]
    first, second, third = wiretap.sent
    assert first.url == f"{sim.url}/api/v1/conferences?state=live&per_page=100"
    assert second.url == next_of(first.link)
    assert third.url == next_of(second.link)
    assert "page=bookmark:" in second.url
    assert next_of(third.link) is None
    for sent in wiretap.sent:
        assert sent.headers["Authorization"] == "Bearer sim-token"
        assert "access_token" not in sent.url
    assert all("per_page=100" in r.path_qs for r in sim.requests)
    assert requests(metrics, "200") == 3


async def test_lower_case_link_header_is_followed(sim: Simulator, client: CanvasClient) -> None:
    start_live(sim, 250)
    sim.link_header_lowercase = True
    assert len({c.id for c in await client.live(Deadline(2))}) == 250
    assert len(sim.requests) == 3


async def test_upper_case_host_in_link_is_the_same_host(sim: Simulator, metrics: Metrics) -> None:
    ids = start_live(sim, 150)
    sim.link_host_upper = True
    wiretap = Wiretap()
    source = fast_source(f"http://canvas.test:{sim.port}")
    async with http_session(resolver=LoopbackResolver(), wiretap=wiretap) as http:
        found = await make_client(http, source, metrics).live(Deadline(2))
    assert sorted(c.id for c in found) == sorted(ids)
    _, second = wiretap.sent
    assert second.url.startswith(f"http://CANVAS.TEST:{sim.port}/api/v1/conferences?")
    assert second.headers["Authorization"] == "Bearer sim-token"


@pytest.mark.parametrize(("context_type", "context_id"), [("Course", 202), ("Group", 7)])
async def test_context_reads_every_numbered_page(
    sim: Simulator, client: CanvasClient, context_type: Any, context_id: int
) -> None:
    for i in range(250):
        conf = sim.world.create_conference(context_type=context_type, context_id=context_id)
        if i % 3 == 0:
            sim.world.start(conf.id)
    found = await client.context(context_type, context_id, Deadline(2))
    assert len({c.id for c in found}) == 250  # the index lists live or not: Canvas ignores state
    base = f"/api/v1/{'courses' if context_type == 'Course' else 'groups'}/{context_id}/conferences"
    assert [r.path_qs for r in sim.requests] == [
        f"{base}?per_page=100",
        f"{base}?page=2&per_page=100",
        f"{base}?page=3&per_page=100",
    ]


async def test_disabled_conferences_tab_is_a_definite_404(
    sim: Simulator, client: CanvasClient
) -> None:
    sim.world.set_conferences_tab("Course", 101, False)
    error = await failure(client.context("Course", 101, Deadline(2)))
    assert (error.reason, error.status, error.definite) == (PollFailure.HTTP_4XX, 404, True)
    assert "disabled" in str(error)
    assert len(sim.requests) == 1  # a definite answer is not retried


async def test_non_member_context_is_a_definite_401(sim: Simulator, client: CanvasClient) -> None:
    sim.world.add_context("Course", 303)
    error = await failure(client.context("Course", 303, Deadline(2)))
    assert (error.reason, error.status, error.definite) == (PollFailure.AUTH, 401, True)


# error mapping


async def test_invalid_token_is_auth_and_counted(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    source = fast_source(sim.url, token=Secret("not-a-canvas-token"))
    error = await failure(make_client(session, source, metrics).live(Deadline(2)))
    assert (error.reason, error.status) == (PollFailure.AUTH, 401)
    assert "Invalid access token." in str(error)
    assert "not-a-canvas-token" not in str(error)
    assert requests(metrics, "401") == 1
    assert statuses(sim) == [401]


async def test_revoked_token_is_auth(sim: Simulator, client: CanvasClient) -> None:
    sim.world.revoke_token("sim-token")
    error = await failure(client.live(Deadline(2)))
    assert error.reason is PollFailure.AUTH
    assert "Revoked access token." in str(error)


async def test_403_without_rate_limit_body_is_forbidden(
    sim: Simulator, client: CanvasClient
) -> None:
    sim.faults.add("status", LIVE, status=403, times=None)
    error = await failure(client.live(Deadline(2)))
    assert (error.reason, error.status) == (PollFailure.FORBIDDEN, 403)
    assert statuses(sim) == [403]  # a permission error is not waited out


async def test_5xx_on_a_page_is_retried_and_the_listing_completes(
    sim: Simulator, client: CanvasClient, metrics: Metrics
) -> None:
    ids = start_live(sim, 250)
    sim.faults.add("status", LIVE, page=2)
    found = await client.live(Deadline(2))
    assert sorted(c.id for c in found) == sorted(ids)
    assert statuses(sim) == [200, 500, 200, 200]
    assert requests(metrics, "500") == 1


async def test_persisting_5xx_fails_after_the_bounded_attempts(
    sim: Simulator, client: CanvasClient, metrics: Metrics
) -> None:
    start_live(sim, 150)
    sim.faults.add("status", LIVE, page=2, status=503, times=None)
    began = time.monotonic()
    error = await failure(client.live(Deadline(2)))
    elapsed = time.monotonic() - began
    assert (error.reason, error.status, error.definite) == (PollFailure.HTTP_5XX, 503, False)
    assert statuses(sim) == [200, 503, 503, 503]
    assert requests(metrics, "503") == 3
    assert 0.236 + 0.206 <= elapsed < 1.0  # the seeded jitter really was slept


async def test_retries_never_outlast_the_poll_budget(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    sim.faults.add("status", LIVE, times=None)
    # Seed 2 draws a first backoff of 0.956 s: more than this poll has left, so no retry.
    client = make_client(session, fast_source(sim.url, poll_timeout=0.5), metrics, seed=2)
    began = time.monotonic()
    error = await failure(client.live(Deadline(0.5)))
    assert error.reason is PollFailure.HTTP_5XX
    assert statuses(sim) == [500]
    assert time.monotonic() - began < 0.3


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_html_gateway_error_is_retried_like_5xx(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics, status: int
) -> None:
    ids = start_live(sim, 2)
    sim.faults.add("html", LIVE, status=status)
    found = await make_client(session, fast_source(sim.url), metrics).live(Deadline(2))
    assert sorted(c.id for c in found) == sorted(ids)
    sim.faults.add("html", LIVE, status=status, times=None)
    client = make_client(session, fast_source(sim.url), metrics)
    error = await failure(client.live(Deadline(2)))
    assert (error.reason, error.status) == (PollFailure.HTTP_5XX, status)
    assert statuses(sim) == [status, 200, status, status, status]


async def test_timeout_fails_within_the_budget(
    sim: Simulator, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    sim.faults.add("timeout", LIVE, times=None)
    client = make_client(session, fast_source(sim.url, poll_timeout=1.0), metrics)
    began = time.monotonic()
    error = await failure(client.live(Deadline(1.0)))
    assert error.reason is PollFailure.TIMEOUT
    assert 0.3 <= time.monotonic() - began < 1.15
    assert (requests(metrics, "timeout") or 0) >= 2  # retried once at least


async def test_slow_page_within_its_timeout_is_waited_for(
    sim: Simulator, client: CanvasClient
) -> None:
    ids = start_live(sim, 2)
    sim.faults.add("slow", LIVE, delay=0.15)
    assert sorted(c.id for c in await client.live(Deadline(2))) == sorted(ids)
    assert statuses(sim) == [200]


async def test_connection_reset_is_retried(
    sim: Simulator, client: CanvasClient, metrics: Metrics
) -> None:
    ids = start_live(sim, 2)
    sim.faults.add("reset", LIVE, times=2)  # aiohttp itself retries once, so we see one failure
    assert sorted(c.id for c in await client.live(Deadline(2))) == sorted(ids)
    assert statuses(sim) == [0, 0, 200]
    assert requests(metrics, "connection") == 1


async def test_connection_reset_persisting_is_connection(
    sim: Simulator, client: CanvasClient
) -> None:
    sim.faults.add("reset", LIVE, times=None)
    error = await failure(client.live(Deadline(2)))
    assert error.reason is PollFailure.CONNECTION
    assert error.definite is False


async def test_truncated_body_is_retried(
    sim: Simulator, client: CanvasClient, metrics: Metrics
) -> None:
    ids = start_live(sim, 2)
    sim.faults.add("truncated", LIVE)
    assert sorted(c.id for c in await client.live(Deadline(2))) == sorted(ids)
    assert requests(metrics, "connection") == 1


async def test_truncated_body_persisting_is_connection(
    sim: Simulator, client: CanvasClient
) -> None:
    start_live(sim, 2)
    sim.faults.add("truncated", LIVE, times=None)
    assert (await failure(client.live(Deadline(2)))).reason is PollFailure.CONNECTION


async def test_bad_json_is_invalid_response(sim: Simulator, client: CanvasClient) -> None:
    start_live(sim, 150)
    sim.faults.add("bad_json", LIVE, page=2)
    error = await failure(client.live(Deadline(2)))
    assert error.reason is PollFailure.INVALID_RESPONSE


@pytest.mark.parametrize("shape", ["array", "missing", "not_list"])
async def test_wrong_shape_on_any_page_is_invalid_response(
    sim: Simulator, client: CanvasClient, shape: str
) -> None:
    start_live(sim, 150)
    sim.faults.add("wrong_shape", LIVE, page=2, shape=shape)
    error = await failure(client.live(Deadline(2)))
    assert error.reason is PollFailure.INVALID_RESPONSE
    assert statuses(sim) == [200, 200]


async def test_bad_records_are_skipped_and_counted(
    sim: Simulator, client: CanvasClient, metrics: Metrics
) -> None:
    ids = start_live(sim, 150)
    sim.faults.add("bad_record", LIVE, page=1)
    found = await client.live(Deadline(2))
    assert sorted(c.id for c in found) == sorted(ids)
    invalid = sample(metrics, "conference_monitor_invalid_records_total", source="main")
    assert invalid == 3  # no id, a string id, a null id


# what the simulator never says: other origins, redirects, malformed links

PAGE = "/api/v1/conferences"
LATER = "/api/v1/conferences?state=live&page=bookmark:x&per_page=100"


def record(conference_id: int) -> dict[str, Any]:
    return {"id": conference_id, "context_type": "Course", "context_id": 1}


def first_page_pointing_to(canvas: ScriptedCanvas, next_url: str) -> None:
    canvas.answer(
        PAGE, payload={"conferences": [record(1)]}, headers={"Link": f'<{next_url}>; rel="next"'}
    )
    canvas.answer(PAGE, payload={"conferences": [record(2)]})  # what following would get


@pytest.fixture
async def canvas() -> AsyncIterator[ScriptedCanvas]:
    async with ScriptedCanvas() as server:
        yield server


@pytest.fixture
async def anywhere() -> AsyncIterator[aiohttp.ClientSession]:
    """A session where every host name leads to loopback, so a followed link would arrive."""
    async with http_session(resolver=LoopbackResolver()) as http:
        yield http


@pytest.mark.parametrize("origin", ["http://evil.test:{port}", "https://canvas.test:{port}"])
async def test_next_link_to_another_origin_is_refused(
    canvas: ScriptedCanvas, anywhere: aiohttp.ClientSession, metrics: Metrics, origin: str
) -> None:
    base = f"http://canvas.test:{canvas.port}"
    first_page_pointing_to(canvas, origin.format(port=canvas.port) + LATER)
    client = make_client(anywhere, fast_source(base), metrics)
    error = await failure(client.live(Deadline(2)))
    assert error.reason is PollFailure.INVALID_RESPONSE
    assert "another host" in str(error)
    assert len(canvas.seen) == 1  # the token went nowhere else


async def test_next_link_on_another_port_of_the_same_host_is_followed(
    canvas: ScriptedCanvas, anywhere: aiohttp.ClientSession, metrics: Metrics
) -> None:
    async with ScriptedCanvas() as other_port:
        other_port.answer(PAGE, payload={"conferences": [record(2)]})
        canvas.answer(
            PAGE,
            payload={"conferences": [record(1)]},
            headers={"Link": f'<http://CANVAS.test:{other_port.port}{LATER}>; rel="next"'},
        )
        client = make_client(anywhere, fast_source(f"http://canvas.test:{canvas.port}"), metrics)
        found = await client.live(Deadline(2))
        assert [c.id for c in found] == [1, 2]
        [followed] = other_port.seen
        assert followed.url.endswith(LATER)
        assert followed.headers["Authorization"] == "Bearer sim-token"


async def test_redirect_is_not_followed(
    canvas: ScriptedCanvas, anywhere: aiohttp.ClientSession, metrics: Metrics
) -> None:
    canvas.answer(PAGE, 302, headers={"Location": f"http://login.test:{canvas.port}{PAGE}"})
    canvas.answer(PAGE, payload={"conferences": []})
    client = make_client(anywhere, fast_source(f"http://canvas.test:{canvas.port}"), metrics)
    error = await failure(client.live(Deadline(2)))
    assert (error.reason, error.status) == (PollFailure.INVALID_RESPONSE, 302)
    assert len(canvas.seen) == 1


async def test_malformed_next_link_is_an_invalid_response(
    canvas: ScriptedCanvas, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    first_page_pointing_to(canvas, f"http://127.0.0.1:99999{LATER}")
    error = await failure(make_client(session, fast_source(canvas.url), metrics).live(Deadline(2)))
    assert error.reason is PollFailure.INVALID_RESPONSE


async def test_whoami_answers_the_token_user(client: CanvasClient) -> None:
    me = await client.whoami(Deadline(2))
    assert (me["id"], me["name"]) == (1, "Sim User")


async def test_an_empty_page_with_a_next_link_is_followed(
    session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    async with ScriptedCanvas() as canvas:
        second = f"{canvas.url}/api/v1/conferences?state=live&page=bookmark:Mg&per_page=100"
        canvas.answer(
            "/api/v1/conferences",
            payload={"conferences": []},
            headers={"Link": f'<{second}>; rel="next"'},
        )
        canvas.answer("/api/v1/conferences", payload={"conferences": [{"id": 7}]})
        client = make_client(session, fast_source(canvas.url), metrics)
        assert [c.id for c in await client.live(Deadline(2))] == [7]
        assert [s.url for s in canvas.seen][1] == second


async def test_a_forbidden_context_is_not_a_definite_answer(
    session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    # docs/design.md, invariant 4: only 401 and 404 are definite; a 403 is asked again during
    # the grace.
    async with ScriptedCanvas() as canvas:
        canvas.answer(
            "/api/v1/courses/101/conferences", 403, payload={"errors": [{"message": "no"}]}
        )
        client = make_client(session, fast_source(canvas.url), metrics)
        with pytest.raises(CanvasError) as info:
            await client.context("Course", 101, Deadline(2))
        assert (info.value.reason, info.value.definite) == (PollFailure.FORBIDDEN, False)
