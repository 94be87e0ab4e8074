"""Permanent failures, against a real receiver and both stores: a rejected event goes to the
dead-letter queue at once without holding anything else up; a 410 disables the sink (metric,
/readyz, one log line, no further request) until the endpoint is fixed and the letters are
replayed, or the configured URL changes."""

from __future__ import annotations

import io

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from monitor.commands import dlq
from monitor.core.lease_name import LeaseName
from monitor.core.timings import Timings
from monitor.replicas.leases import LeaseKeeper
from monitor.service import Service
from monitor.web.server import create_app
from tests.support.delivery_helpers import (
    StoreFactory,
    backlog_is,
    ended,
    eventually,
    fast_config,
    idle,
    open_outbox,
    running_sink,
    started,
    store_factory,
)
from tests.support.receiver import Receiver
from tests.support.service import settings_for, source_config

FAILURES = "conference_monitor_delivery_failures_total"
DELIVERIES = "conference_monitor_deliveries_total"
GONE = "HTTP 410: endpoint gone"


# rejected: one event, at once


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_rejected_event_is_dead_lettered_at_once_and_holds_nothing_up(
    status: int, make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    first = started("main", 1, 2, 3)
    rejected = first.events[0]  # conference 1's started
    hook.script[rejected.id] = [status]
    await store.commit("main", 0, first)
    second = ended("main", first.state, 1, 2)
    await store.commit("main", 1, second)

    async with running_sink(fast_config(hook.url), store, http) as run:
        await hook.wait_for(4)
        await backlog_is(store, 0)
        await idle(run.runner)  # nothing held for a retry the patient schedule would make
        await run.finish()

    assert [s for s, _ in hook.for_event(rejected.id)] == [status]  # once: never retried
    delivered = sorted(r.event_id for r in hook.delivered)
    assert delivered == sorted([*(e.id for e in first.events[1:]), *(e.id for e in second.events)])
    (letter,) = await store.dead_letters("ops")
    assert letter.entry.event_id == rejected.id
    assert letter.reason == f"rejected: HTTP {status}"
    assert letter.attempts == 1
    # The next event of the same conference still went out.
    assert second.events[0].id in delivered
    assert run.sample(FAILURES, reason="http_4xx") == 1
    assert run.sample(DELIVERIES) == 4
    assert run.runner.disabled is None
    assert run.sample("conference_monitor_sink_disabled") == 0


# 410: the endpoint is gone


async def readyz(service: Service) -> dict[str, object]:
    async with TestClient(TestServer(create_app(service))) as client:
        response = await client.get("/readyz")
        assert response.status == 200  # a sink never makes the service unready
        body = await response.json()
        assert isinstance(body, dict)
        return body


async def test_a_gone_endpoint_disables_the_sink_and_keeps_everything(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    hook.default = 410
    config = fast_config(hook.url)
    first = started("main", 1)

    with structlog.testing.capture_logs() as logs:
        async with running_sink(config, store, http) as run:
            await store.commit("main", 0, first)
            await eventually(lambda: run.runner.disabled is not None)
            await backlog_is(store, 0)
            later = started("main", 2, 3, 4)  # committed while disabled
            await store.commit("main", 1, later)
            await backlog_is(store, 0)
            await idle(run.runner)

            assert run.runner.disabled is not None
            assert run.runner.disabled.reason == GONE
            assert run.sample("conference_monitor_sink_disabled") == 1
            assert run.sample("conference_monitor_sink_up") == 0
            settings = settings_for((source_config("http://127.0.0.1:9"),), (config,))
            leases = LeaseKeeper(store, "test-replica", [LeaseName.sink("ops")], 15.0, run.metrics)
            service = Service(settings, store, run.metrics, [], leases)
            service.running.append(run.runner)
            body = await readyz(service)
            await run.finish()

    assert len(hook.requests) == 1  # no retry storm: nothing after the 410
    stored = await store.sink_disabled("ops")
    assert stored is not None
    assert stored.reason == GONE
    assert stored == run.runner.disabled
    letters = await store.dead_letters("ops")
    expected = [first.events[0].id, *(e.id for e in later.events)]
    assert sorted(d.entry.event_id for d in letters) == sorted(expected)
    assert {d.reason for d in letters} == {f"sink disabled: {GONE}"}
    assert run.sample(DELIVERIES) == 0
    assert body["ready"] is True
    (check,) = [c for c in body["checks"] if c["name"] == "sink:ops"]  # type: ignore[attr-defined]
    assert check["ok"] is True
    assert check["disabled"] == GONE
    said = [line for line in logs if line["event"] == "sink_disabled"]
    assert len(said) == 1  # one clear line, not one per event
    assert said[0]["log_level"] == "error"
    assert "dlq replay" in said[0]["hint"]
    assert hook.url not in str(logs)


async def test_a_disabled_sink_stays_disabled_across_a_restart(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    hook.default = 410
    config = fast_config(hook.url)
    async with running_sink(config, store, http) as run:
        await store.commit("main", 0, started("main", 1))
        await eventually(lambda: run.runner.disabled is not None)
        await run.finish()
    hook.default = 200  # fixed, but nobody said so

    restarted = await open_outbox(make_store)
    async with running_sink(config, restarted, http) as again:
        await eventually(lambda: again.runner.disabled is not None)
        assert again.sample("conference_monitor_sink_disabled") == 1
        assert again.sample("conference_monitor_sink_up") == 0
        await restarted.commit("main", 1, started("main", 2))
        await backlog_is(restarted, 0)
        await idle(again.runner)
        await again.finish()

    assert len(hook.requests) == 1  # only the 410 of the first run
    assert await restarted.count_dead("ops") == 2


async def test_enabling_and_replaying_delivers_the_dead_letters(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    hook.default = 410
    config = fast_config(hook.url)
    first = started("main", 1, 2)
    async with running_sink(config, store, http) as run:
        await store.commit("main", 0, first)
        await eventually(lambda: run.runner.disabled is not None)
        await backlog_is(store, 0)
        await run.finish()
    assert await store.count_dead("ops") == 2

    hook.default = 200  # the endpoint is fixed; `dlq replay` does this:
    assert await store.replay_dead("ops") == 2
    await store.enable_sink("ops")

    restarted = await open_outbox(make_store)
    async with running_sink(config, restarted, http) as again:
        delivered = await hook.wait_for(2)
        await backlog_is(restarted, 0)
        assert again.runner.disabled is None
        assert again.sample("conference_monitor_sink_disabled") == 0
        assert again.sample("conference_monitor_sink_up") == 1
        await again.finish()

    assert sorted(r.event_id for r in delivered) == sorted(e.id for e in first.events)
    for request, event in zip(
        sorted(delivered, key=lambda r: r.event_id),
        sorted(first.events, key=lambda e: e.id),
        strict=True,
    ):
        assert request.body == event.body()  # the same bytes as before: receivers de-duplicate
    assert await restarted.count_dead("ops") == 0
    assert await restarted.sink_disabled("ops") is None
    assert again.sample(DELIVERIES) == 2


async def test_a_new_url_in_the_configuration_enables_the_sink(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    hook.default = 410
    async with running_sink(fast_config(hook.url), store, http) as run:
        await store.commit("main", 0, started("main", 1))
        await eventually(lambda: run.runner.disabled is not None)
        await run.finish()

    restarted = await open_outbox(make_store)
    async with (
        Receiver() as moved,
        running_sink(fast_config(moved.url), restarted, http) as again,
    ):
        second = started("main", 2)
        await restarted.commit("main", 1, second)
        (request,) = await moved.wait_for(1)
        assert again.runner.disabled is None
        assert again.sample("conference_monitor_sink_disabled") == 0
        await again.finish()

    assert request.event_id == second.events[0].id
    assert await restarted.sink_disabled("ops") is None
    assert await restarted.count_dead("ops") == 1  # the old letter waits for a replay
    assert len(hook.requests) == 1


async def test_dlq_replay_into_the_running_service_is_delivered(
    redis_url: str,
    hook: Receiver,
    http: aiohttp.ClientSession,
) -> None:
    config = fast_config(hook.url)
    settings = settings_for((source_config("http://127.0.0.1:9"),), (config,), state_url=redis_url)
    async with store_factory("redis", redis_url) as make_store:
        store = await open_outbox(make_store)
        hook.default = 410
        first = started("main", 1)
        looks_often = Timings.for_tests(keep_every=0.1)  # whether someone enabled it again
        async with running_sink(config, store, http, timings=looks_often) as run:
            await store.commit("main", 0, first)
            await eventually(lambda: run.runner.disabled is not None)
            await backlog_is(store, 0)
            hook.default = 200  # the endpoint is fixed; a person runs `dlq replay --sink ops`
            assert await dlq.replay(settings, "ops", None, io.StringIO(), as_json=False) == 0
            await eventually(lambda: run.runner.disabled is None)
            await hook.wait_for(1)  # the letter, delivered again
            await backlog_is(store, 0)
            await idle(run.runner)
            await run.finish()

        assert [r.event_id for r in hook.delivered] == [first.events[0].id]
        assert await store.count_dead("ops") == 0
