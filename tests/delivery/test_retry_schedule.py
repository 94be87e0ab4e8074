"""The retry schedule: ``next_due`` (jitter, Retry-After, exhaustion), a runner that follows it
against a real receiver, and retries that survive a restart of the process (memory and Redis)."""

from __future__ import annotations

import asyncio
import itertools
import random

import aiohttp
import pytest

from monitor.config.sinks import DEFAULT_SCHEDULE
from monitor.delivery.retry import JITTER, RETRY_AFTER_CAP, next_due
from monitor.store.values import RetryState
from tests.support.delivery_helpers import (
    FAST_SCHEDULE,
    StoreFactory,
    backlog_is,
    entry_of,
    eventually,
    fast_config,
    idle,
    open_outbox,
    running_sink,
    started,
)
from tests.support.ledger_helpers import monotonic_of
from tests.support.receiver import Receiver
from tests.support.service import until

FAILURES = "conference_monitor_delivery_failures_total"
DELIVERIES = "conference_monitor_deliveries_total"


# next_due


def test_the_default_schedule_is_the_standard_webhooks_one() -> None:
    minutes, hours = 60.0, 3600.0
    assert (
        0.0,
        5.0,
        5 * minutes,
        30 * minutes,
        2 * hours,
        5 * hours,
        10 * hours,
        14 * hours,
        20 * hours,
        24 * hours,
    ) == DEFAULT_SCHEDULE
    assert 3 * 86400 < sum(DEFAULT_SCHEDULE) < 3.5 * 86400  # about three days in all (75.6 h)


def test_jitter_stays_within_twenty_percent_and_spreads() -> None:
    assert pytest.approx(0.2) == JITTER
    rng = random.Random(1)  # noqa: S311 - a seeded test of jitter
    now = 1_790_000_000.0
    for attempts, base in enumerate(DEFAULT_SCHEDULE[1:], start=1):
        waits = []
        for _ in range(400):
            due = next_due(DEFAULT_SCHEDULE, attempts, now, rng)
            assert due is not None
            waits.append(due - now)
        assert min(waits) >= base * 0.8
        assert max(waits) <= base * 1.2
        assert min(waits) < base * 0.85  # spread over the whole band: failures that came
        assert max(waits) > base * 1.15  # together do not come back together


def test_the_wait_before_attempt_n_plus_one_is_entry_n() -> None:
    class Middle(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return (a + b) / 2  # no jitter

    schedule = (0.0, 2.0, 30.0)
    assert next_due(schedule, 1, 100.0, Middle()) == 102.0
    assert next_due(schedule, 2, 100.0, Middle()) == 130.0
    assert next_due(schedule, 3, 100.0, Middle()) is None  # three attempts: they ran out
    assert next_due(schedule, 7, 100.0, Middle()) is None
    assert next_due((0.0,), 1, 100.0, Middle()) is None  # one attempt, no retry


def test_retry_after_is_honoured_when_longer_up_to_the_cap() -> None:
    rng = random.Random(2)  # noqa: S311 - a seeded test of jitter
    schedule = (0.0, 5.0, 300.0)
    now = 1_000.0
    longer = next_due(schedule, 1, now, rng, retry_after=60.0)
    assert longer == now + 60.0  # the receiver asked for more than the schedule's 5 s
    shorter = next_due(schedule, 2, now, rng, retry_after=1.0)
    assert shorter is not None
    assert now + 240.0 <= shorter <= now + 360.0  # the schedule asks for more: it wins
    capped = next_due(schedule, 1, now, rng, retry_after=10 * RETRY_AFTER_CAP)
    assert capped == now + RETRY_AFTER_CAP
    assert next_due(schedule, 3, now, rng, retry_after=1.0) is None  # exhausted is exhausted


# the runner follows the schedule


async def test_a_receiver_failing_n_times_gets_the_event_after_n_scheduled_retries(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    schedule = (0.0, 0.15, 0.3, 0.45, 0.6)
    store = await open_outbox(make_store)
    outcome = started("main", 1)
    event = outcome.events[0]
    hook.script[event.id] = [503, 503, 503, 200]
    await store.commit("main", 0, outcome)

    async with running_sink(fast_config(hook.url, retry_schedule=schedule), store, http) as run:
        await hook.wait_for(1)
        await backlog_is(store, 0)
        await run.finish()

    requests = hook.for_event(event.id)
    assert [status for status, _ in requests] == [503, 503, 503, 200]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(requests)]
    for gap, wait in zip(gaps, schedule[1:], strict=False):
        assert wait * (1 - JITTER) <= gap <= wait * (1 + JITTER) + 0.1, (gaps, schedule)
    assert run.sample(FAILURES, reason="http_5xx") == 3
    assert run.sample(DELIVERIES) == 1
    assert await store.count_dead("ops") == 0
    assert await store.retry_states("ops", [entry_of(event)]) == {}  # cleared by the ack
    assert run.runner.failing is None


async def test_exhausted_retries_go_to_the_dead_letter_queue(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    outcome = started("main", 1)
    event = outcome.events[0]
    hook.default = 503

    async with running_sink(
        fast_config(hook.url, retry_schedule=FAST_SCHEDULE), store, http
    ) as run:
        await store.commit("main", 0, outcome)
        await backlog_is(store, 0)
        await idle(run.runner)  # dead-lettered, and nothing held for another try
        await run.finish()

    assert [status for status, _ in hook.for_event(event.id)] == [503] * len(FAST_SCHEDULE)
    (letter,) = await store.dead_letters("ops")
    assert letter.entry.event_id == event.id
    assert letter.entry.body == event.body()
    assert letter.attempts == len(FAST_SCHEDULE)
    assert letter.reason == f"retries exhausted after {len(FAST_SCHEDULE)} attempts: HTTP 503"
    assert await store.retry_states("ops", [letter.entry]) == {}
    assert run.sample(FAILURES, reason="http_5xx") == len(FAST_SCHEDULE)
    assert run.sample(DELIVERIES) == 0
    assert run.sample("conference_monitor_sink_up") == 0


async def test_a_retry_after_on_a_5xx_delays_that_retry(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    outcome = started("main", 1)
    event = outcome.events[0]
    hook.script[event.id] = [503, 200]
    hook.retry_after = "1"
    await store.commit("main", 0, outcome)

    async with running_sink(
        fast_config(hook.url, retry_schedule=FAST_SCHEDULE), store, http
    ) as run:
        await hook.wait_for(1)
        await run.finish()

    (_, refused), (_, accepted) = hook.for_event(event.id)
    assert accepted - refused >= 1.0  # the schedule said 10 ms; the receiver asked for 1 s


# durable: a restart resumes the schedule


async def test_a_restart_resumes_each_delivery_where_its_schedule_was(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    """Two events fail twice; the process stops while they wait a long retry. The next process
    (a new store connection, the same consumer name) waits out their saved due, goes on
    counting their attempts, delivers the one whose receiver recovers and dead-letters the
    other when the schedule runs out. Nothing is lost, nothing is attempted early."""
    schedule = (0.0, 0.05, 1.0, 0.05, 0.05)
    config = fast_config(hook.url, retry_schedule=schedule)
    store = await open_outbox(make_store)
    outcome = started("main", 1, 2)
    doomed, recovers = outcome.events
    hook.script[doomed.id] = [503]
    hook.script[recovers.id] = [503, 503, 503, 200]
    entries = [entry_of(doomed), entry_of(recovers)]  # retry states are kept by event id

    async with running_sink(config, store, http) as first:
        await store.commit("main", 0, outcome)
        saved: dict[str, RetryState] = {}
        while len(saved) < 2 or any(s.attempts < 2 for s in saved.values()):
            await asyncio.sleep(0.01)
            saved = await store.retry_states("ops", entries)
        await first.finish()
    assert {s.attempts for s in saved.values()} == {2}
    assert len(hook.requests) == 4
    assert await store.backlog("ops") == 2

    restarted = await open_outbox(make_store)
    assert await restarted.retry_states("ops", entries) == saved
    async with running_sink(config, restarted, http) as second:
        await backlog_is(restarted, 0, within=10)
        await second.finish()

    for event in (doomed, recovers):
        due = monotonic_of(saved[event.id].due)
        third = hook.for_event(event.id)[2][1]
        assert third >= due - 0.02, f"attempted {due - third:.3f}s before its due"
        assert third <= due + 0.5
    assert [s for s, _ in hook.for_event(recovers.id)] == [503, 503, 503, 200]
    assert [s for s, _ in hook.for_event(doomed.id)] == [503] * len(schedule)
    (letter,) = await restarted.dead_letters("ops")
    assert letter.entry.event_id == doomed.id
    assert letter.attempts == len(schedule)  # counted across the restart, not from zero
    assert letter.reason.startswith(f"retries exhausted after {len(schedule)} attempts")
    assert second.sample(DELIVERIES) == 1
    assert await restarted.retry_states("ops", entries) == {}


async def test_a_restart_with_an_overdue_retry_attempts_it_at_once(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    schedule = (0.0, 0.8, 0.05)
    config = fast_config(hook.url, retry_schedule=schedule)
    store = await open_outbox(make_store)
    outcome = started("main", 1)
    event = outcome.events[0]
    hook.script[event.id] = [503, 200]

    async with running_sink(config, store, http) as first:
        await store.commit("main", 0, outcome)
        await eventually(lambda: len(hook.requests) == 1)
        await until(lambda: store.retry_states("ops", [entry_of(event)]), bool)  # it is saved
        await first.finish()
    (state,) = (await store.retry_states("ops", [entry_of(event)])).values()
    await asyncio.sleep(max(0.0, monotonic_of(state.due) - asyncio.get_running_loop().time()))
    await asyncio.sleep(0.1)  # the process was down past the due

    restarted = await open_outbox(make_store)
    began = asyncio.get_running_loop().time()
    async with running_sink(config, restarted, http) as second:
        await hook.wait_for(1)
        await second.finish()
    assert hook.requests[-1].at - began < 0.5  # no new wait: the schedule is not started over
    assert await restarted.backlog("ops") == 0
