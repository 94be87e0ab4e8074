"""Delivery metrics against a real receiver and both stores: the lag histogram (detected ->
acknowledged) per delivered event, the dead-letter and pending gauges, ``sink_up``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from monitor.delivery.backlog import update_backlogs
from tests.support.delivery_helpers import (
    StoreFactory,
    backlog_is,
    eventually,
    fast_config,
    open_outbox,
    running_sink,
)
from tests.support.ledger_helpers import started_with
from tests.support.receiver import Receiver

LAG = "conference_monitor_delivery_lag_seconds"


async def test_lag_is_observed_once_per_delivered_event(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    detected = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    outcome = started_with(
        "main",
        (1, {}),
        (2, {}),
        (3, {"conference_type": "AdobeConnect"}),  # filtered out
        (4, {}),  # rejected
        (5, {}),  # fails twice, then delivered
        now=detected,
    )
    hook.script[outcome.events[3].id] = [400]
    hook.script[outcome.events[4].id] = [503, 503, 200]
    store = await open_outbox(make_store)
    await store.commit("main", 0, outcome)
    config = fast_config(hook.url, conference_types=frozenset({"BigBlueButton"}))

    async with running_sink(config, store, http) as run:
        await hook.wait_for(3)
        await backlog_is(store, 0)
        await run.finish()

    assert run.sample("conference_monitor_deliveries_total") == 3
    assert run.sample(f"{LAG}_count") == 3  # not the filtered one, not the dead letter
    total = run.sample(f"{LAG}_sum")
    assert 3 * 30 <= total <= 3 * 35  # detected 30 s before (the envelope's timestamp)
    assert run.sample(f"{LAG}_bucket", le="15.0") == 0
    assert run.sample(f"{LAG}_bucket", le="60.0") == 3


async def test_backlog_gauges_count_pending_and_dead_letters(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    outcome = started_with("main", (1, {}), (2, {}), (3, {}))
    for event in outcome.events[:2]:
        hook.script[event.id] = [422]
    store = await open_outbox(make_store)
    await store.commit("main", 0, outcome)

    async with running_sink(fast_config(hook.url), store, http) as run:
        await hook.wait_for(1)
        await backlog_is(store, 0)
        await update_backlogs([run.runner.name], store, run.metrics)
        assert run.sample("conference_monitor_dead_letters") == 2
        assert run.sample("conference_monitor_outbox_pending") == 0

        await store.replay_dead("ops", {outcome.events[0].id})
        hook.script.clear()
        await hook.wait_for(2)
        await backlog_is(store, 0)
        await update_backlogs([run.runner.name], store, run.metrics)
        assert run.sample("conference_monitor_dead_letters") == 1
        await store.purge_dead("ops")
        await update_backlogs([run.runner.name], store, run.metrics)
        assert run.sample("conference_monitor_dead_letters") == 0
        await run.finish()


async def test_sink_up_follows_failures_and_recoveries(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    hook.default = 503
    config = fast_config(hook.url, retry_schedule=(0.0, 0.3, 0.3))
    async with running_sink(config, store, http) as run:
        assert run.sample("conference_monitor_sink_up") == 1
        await store.commit("main", 0, started_with("main", (1, {})))
        await eventually(lambda: len(hook.requests) == 1)
        await eventually(lambda: run.runner.failing == "http_5xx")
        assert run.sample("conference_monitor_sink_up") == 0
        hook.default = 200
        await hook.wait_for(1)
        await backlog_is(store, 0)
        assert run.sample("conference_monitor_sink_up") == 1
        assert run.runner.failing is None
        await run.finish()
    assert run.sample("conference_monitor_sink_disabled") == 0
