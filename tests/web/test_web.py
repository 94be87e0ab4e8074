"""The HTTP face of the running service: /metrics, /healthz, /readyz, /api/v1/live and the
console's page, against the simulator, a real receiver and real stores."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.simulator import Simulator
from monitor.store.memory import MemoryStore
from tests.support.delivery_helpers import GatedStore
from tests.support.receiver import Receiver
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

#: docs/design.md, "Metrics": name -> (type, label names).
CONTRACT: dict[str, tuple[str, set[str]]] = {
    "conference_monitor_live_conferences": ("gauge", {"source", "conference_type", "context_type"}),
    "conference_monitor_events_total": ("counter", {"source", "event"}),
    "conference_monitor_polls_total": ("counter", {"source"}),
    "conference_monitor_poll_failures_total": ("counter", {"source", "reason"}),
    "conference_monitor_poll_duration_seconds": ("histogram", {"source"}),
    "conference_monitor_last_successful_poll_timestamp_seconds": ("gauge", {"source"}),
    "conference_monitor_canvas_requests_total": ("counter", {"source", "code"}),
    "conference_monitor_canvas_rate_limit_remaining": ("gauge", {"source"}),
    "conference_monitor_deliveries_total": ("counter", {"sink"}),
    "conference_monitor_delivery_failures_total": ("counter", {"sink", "reason"}),
    "conference_monitor_delivery_duration_seconds": ("histogram", {"sink"}),
    "conference_monitor_delivery_lag_seconds": ("histogram", {"sink"}),
    "conference_monitor_sink_up": ("gauge", {"sink"}),
    "conference_monitor_sink_disabled": ("gauge", {"sink"}),
    "conference_monitor_outbox_pending": ("gauge", {"sink"}),
    "conference_monitor_dead_letters": ("gauge", {"sink"}),
    "conference_monitor_build_info": ("gauge", {"version"}),
}
POLL_FAILURE_REASONS = (
    "auth",
    "forbidden",
    "throttled",
    "timeout",
    "connection",
    "http_5xx",
    "http_4xx",
    "invalid_response",
    "store",
)

Labels = tuple[tuple[str, str], ...]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in found, f"{name}{labels} is not exported"
    return found[key]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with http.get(url) as response:
        return response.status, response.content_type, await response.text()


async def ready(http: aiohttp.ClientSession, base: str) -> Any:
    return await until(lambda: get_json(http, f"{base}/readyz"), lambda r: r["ready"])


async def test_metrics_exist_up_front_with_zeros(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = GatedStore(MemoryStore())  # listening, but no loop has started: no poll yet
    settings = settings_for((source_config(sim.url),), (webhook_config(hook.url),))
    async with running(settings, store=store) as service:
        status, content_type, text = await fetch(http, f"{service.url}/metrics")
        assert len(sim.requests) == 0  # Canvas has not been asked anything yet
        store.gate.set()

    assert status == 200
    assert content_type == "text/plain"
    for name, (kind, labels) in CONTRACT.items():
        assert f"# TYPE {name} {kind}\n" in text, name
        family = name.removesuffix("_total") if kind == "counter" else name
        (parsed,) = [f for f in text_string_to_metric_families(text) if f.name == family]
        assert parsed.samples, f"{name} has no label set"
        for sample in parsed.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)

    found = samples(text)
    assert value(found, "conference_monitor_polls_total", source="main") == 0
    for reason in POLL_FAILURE_REASONS:
        assert (
            value(found, "conference_monitor_poll_failures_total", source="main", reason=reason)
            == 0
        )
    for event in ("conference.started", "conference.ended"):
        assert value(found, "conference_monitor_events_total", source="main", event=event) == 0
    live = "conference_monitor_live_conferences"
    for context_type in ("Course", "Group"):
        assert (
            value(
                found,
                live,
                source="main",
                conference_type="BigBlueButton",
                context_type=context_type,
            )
            == 0
        )
    assert value(found, "conference_monitor_poll_duration_seconds_count", source="main") == 0
    assert (
        value(found, "conference_monitor_last_successful_poll_timestamp_seconds", source="main")
        == 0
    )
    value(found, "conference_monitor_canvas_rate_limit_remaining", source="main")  # NaN: unknown
    assert value(found, "conference_monitor_deliveries_total", sink="ops") == 0
    reasons = ("timeout", "connection", "throttled", "http_3xx", "http_4xx", "http_5xx", "rejected")
    for reason in reasons:
        assert (
            value(found, "conference_monitor_delivery_failures_total", sink="ops", reason=reason)
            == 0
        )
    assert value(found, "conference_monitor_delivery_duration_seconds_count", sink="ops") == 0
    assert value(found, "conference_monitor_delivery_lag_seconds_count", sink="ops") == 0
    assert value(found, "conference_monitor_sink_up", sink="ops") == 1
    assert value(found, "conference_monitor_sink_disabled", sink="ops") == 0
    assert value(found, "conference_monitor_outbox_pending", sink="ops") == 0
    assert value(found, "conference_monitor_dead_letters", sink="ops") == 0
    assert value(found, "conference_monitor_build_info", version=__version__) == 1


async def test_label_values_are_bounded_while_conferences_come_and_go(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    confs = [
        world.create_conference(conference_id=424201, title="Secret Seminar Alpha"),
        world.create_conference(
            conference_id=424202, title="Group Study Bravo", context_type="Group", context_id=7
        ),
        world.create_conference(conference_id=424203, title="Lecture Charlie"),
    ]
    settings = settings_for((source_config(sim.url),), (webhook_config(hook.url),))
    async with running(settings) as service:
        await ready(http, service.url)
        for conf in confs:
            world.start(conf.id)
        await hook.wait_for(3)
        for conf in confs[:2]:
            world.end(conf.id)
        await hook.wait_for(5)

        async def exposition() -> str:
            return (await fetch(http, f"{service.url}/metrics"))[2]

        # The receiver records a request before it answers: the count follows a moment later.
        delivered = 'conference_monitor_deliveries_total{sink="ops"} 5.0'
        text = await until(exposition, lambda t: delivered in t)

    found = samples(text)
    forbidden = [str(c.id) for c in confs] + [c.title for c in confs]
    for name, labels in found:
        for label, label_value in labels:
            for bad in forbidden:
                assert bad not in label_value, f"{name} {label}={label_value!r}"
    events = "conference_monitor_events_total"
    assert value(found, events, source="main", event="conference.started") == 3
    assert value(found, events, source="main", event="conference.ended") == 2
    live = "conference_monitor_live_conferences"
    bbb = {"source": "main", "conference_type": "BigBlueButton"}
    assert value(found, live, **bbb, context_type="Course") == 1
    assert value(found, live, **bbb, context_type="Group") == 0
    assert value(found, "conference_monitor_polls_total", source="main") >= 3
    assert value(found, "conference_monitor_canvas_requests_total", source="main", code="200") >= 3
    assert value(found, "conference_monitor_deliveries_total", sink="ops") == 5
    last = value(found, "conference_monitor_last_successful_poll_timestamp_seconds", source="main")
    assert abs(last - time.time()) < 10


async def test_live_api_lists_the_canvas_objects(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    course = world.create_conference(title="Algebra")
    group = world.create_conference(title="Study group", context_type="Group", context_id=7)
    world.create_conference(title="Not started")
    world.start(course.id)
    world.start(group.id)
    settings = settings_for((source_config(sim.url),))
    async with running(settings) as service:
        body = await until(
            lambda: get_json(http, f"{service.url}/api/v1/live"),
            lambda r: r["sources"][0]["count"] == 2,
        )
        async with http.get(
            f"{sim.url}/api/v1/conferences",
            params={"state": "live"},
            headers={"Authorization": "Bearer sim-token"},
        ) as response:
            canvas = (await response.json())["conferences"]

        world.revoke_token("sim-token")
        failing = await until(
            lambda: get_json(http, f"{service.url}/api/v1/live"),
            lambda r: r["sources"][0]["failing"] is not None,
        )

    (source,) = body["sources"]
    assert set(source) == {
        "name",
        "count",
        "polled_here",
        "last_successful_poll",
        "failing",
        "conferences",
        "contexts",
    }
    for key, context in source["contexts"].items():  # names, where the poller has learnt them
        assert key == f"{context['type']}:{context['id']}"
        assert set(context) == {"type", "id", "name", "course_code", "account_id"}
    assert source["polled_here"] is True
    assert source["name"] == "main"
    assert source["failing"] is None
    assert [c["id"] for c in source["conferences"]] == sorted([course.id, group.id])
    assert {c["id"]: c["title"] for c in source["conferences"]} == {
        course.id: "Algebra",
        group.id: "Study group",
    }
    # Exactly what Canvas answered, unmodified.
    assert sorted(source["conferences"], key=lambda c: c["id"]) == sorted(
        canvas, key=lambda c: c["id"]
    )
    polled = datetime.fromisoformat(source["last_successful_poll"])
    assert polled.tzinfo is not None
    assert abs(polled.timestamp() - time.time()) < 10
    # A failing source keeps what it last saw (a failed poll changes nothing) and says why.
    (after,) = failing["sources"]
    assert after["failing"] == "auth"
    assert after["count"] == 2
    assert after["conferences"] == source["conferences"]


async def test_the_console_page_holds_no_titles(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    """Titles reach the console only as JSON, which it shows as text (the browser tests try
    markup in a title, tests/web/test_console.py); the page itself is the same for everyone."""
    world = sim.world
    evil = world.create_conference(title="<script>alert(1)</script>")
    world.start(evil.id)
    settings = settings_for((source_config(sim.url),))
    async with running(settings) as service:
        await until(
            lambda: get_json(http, f"{service.url}/api/v1/live"),
            lambda r: r["sources"][0]["count"] == 1,
        )
        status, content_type, page = await fetch(http, f"{service.url}/")

    assert status == 200
    assert content_type == "text/html"
    assert "alert(1)" not in page
    assert '<script type="module" src="/console/console.js"></script>' in page


async def test_healthz_while_the_loops_run(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    settings = settings_for((source_config(sim.url),), (webhook_config(hook.url),))
    async with running(settings) as service:
        await ready(http, service.url)
        async with http.get(f"{service.url}/healthz") as response:
            status, body = response.status, await response.json()
    assert status == 200
    assert body["status"] == "ok"
    assert body["dead_loops"] == []
