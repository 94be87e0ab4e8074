"""Chat sinks when the receiver says no: a gone endpoint disables the sink (no retry storm,
everything kept in its dead-letter queue), a refused message is dead-lettered alone, and an
outage that spans a restart of the process loses nothing and keeps each conference in order.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from monitor.commands import dlq
from monitor.config.settings import Settings, SinkType
from tests.support.chat_helpers import (
    PATIENT_SCHEDULE,
    SINK,
    ChatRun,
    Source,
    StoreFactory,
    backlog_is,
    captured_logs,
    chat_config,
    ids,
    log_lines,
    open_outbox,
    per_conference,
    running_chat,
    shown,
    slack_notices,
    store_factory,
)
from tests.support.chat_receivers import SlackReceiver
from tests.support.delivery_helpers import entry_of, eventually, idle
from tests.support.service import settings_for, source_config, until
from tests.support.store_wrappers import PassThroughStore

DELIVERIES = "conference_monitor_deliveries_total"
FAILURES = "conference_monitor_delivery_failures_total"
DISABLED = "conference_monitor_sink_disabled"
UP = "conference_monitor_sink_up"
#: Slack's answers that mean the webhook is gone for good (delivery-facts.md, issue 3 item 5).
GONE = [(200, "no_service"), (404, "channel_not_found"), (410, "channel_is_archived")]


@pytest.fixture
async def slack() -> AsyncIterator[SlackReceiver]:
    async with SlackReceiver() as receiver:
        yield receiver


def each_once(*runs: ChatRun) -> list[str]:
    delivered = [event_id for run in runs for message in run.sink.delivered for event_id in message]
    assert len(delivered) == len(set(delivered)), "an event was delivered twice"
    return delivered


# --- the endpoint is gone -----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "answer"), GONE, ids=[answer for _, answer in GONE])
async def test_a_gone_endpoint_disables_the_sink_and_keeps_every_event(
    status: int,
    answer: str,
    make_store: StoreFactory,
    slack: SlackReceiver,
    http: aiohttp.ClientSession,
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    slack.answer_with(status, answer)
    events = list(await source.start(1, 2))  # two messages: the first one fails

    with captured_logs() as logs:
        async with running_chat(chat_config(SinkType.SLACK, slack.url), store, http) as run:
            await eventually(lambda: run.runner.disabled is not None)
            events += await source.end(1)  # later events go straight to the dead letters
            events += await source.start(3)
            await backlog_is(store, 0)
            await idle(run.runner)  # nothing held for a retry storm, were there one
            await run.finish()

    assert len(slack.requests) == 1  # the failed message only: no retry, no next message
    assert run.runner.disabled is not None
    assert run.runner.disabled.reason == f"HTTP {status} {answer}"
    assert await store.sink_disabled(SINK) is not None  # kept for the next start
    dead = await store.dead_letters(SINK)
    assert sorted(letter.entry.event_id for letter in dead) == sorted(ids(events))
    assert await store.count_dead(SINK) == 4
    for letter in dead:
        assert letter.reason == f"sink disabled: HTTP {status} {answer}"
        assert letter.entry.body == next(e.body() for e in events if e.id == letter.entry.event_id)
    (attempted,) = [d for d in dead if d.entry.event_id == events[0].id]
    assert attempted.attempts == 1
    assert run.sample(DISABLED) == 1
    assert run.sample(UP) == 0
    assert run.sample(FAILURES, reason="http_4xx") == 1
    assert run.sample(DELIVERIES) == 0
    (line,) = log_lines(logs, "sink_disabled")
    assert line["sink"] == SINK
    assert line["level"] == "error"
    assert answer in line["reason"]
    assert slack.url not in logs.getvalue()  # the webhook URL is a credential


async def test_a_disabled_sink_stays_disabled_after_a_restart(
    make_store: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    slack.answer_with(200, "no_service")
    events = list(await source.start(1))
    config = chat_config(SinkType.SLACK, slack.url)
    async with running_chat(config, store, http) as run:
        await eventually(lambda: run.runner.disabled is not None)
        await backlog_is(store, 0)
        await run.finish()
    await store.close()

    restarted = await open_outbox(make_store)
    source.rebind(restarted)
    slack.answer_with(None)  # it would take messages now, but nobody told the monitor
    with captured_logs() as logs:
        async with running_chat(config, restarted, http) as run:
            events += await source.start(2)
            await backlog_is(restarted, 0)
            await idle(run.runner)
            await run.finish()

    assert len(slack.requests) == 1  # the one before the restart
    assert run.runner.disabled is not None
    assert run.sample(DISABLED) == 1
    assert run.sample(UP) == 0
    assert len(log_lines(logs, "sink_disabled_still")) == 1
    dead = await restarted.dead_letters(SINK)
    assert sorted(letter.entry.event_id for letter in dead) == sorted(ids(events))


# --- one message refused ------------------------------------------------------------------------


async def test_an_invalid_payload_dead_letters_that_message_only(
    make_store: StoreFactory, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    async with SlackReceiver() as slack:
        slack.then(400, "invalid_payload")
        refused, taken = await source.start(1, 2)

        async with running_chat(chat_config(SinkType.SLACK, slack.url), store, http) as run:
            await slack.wait_for(1)
            await backlog_is(store, 0)
            await idle(run.runner)
            await run.finish()

    assert [r.status for r in slack.requests] == [400, 200]  # the refused one is not retried
    assert shown(slack.delivered, slack_notices) == [("started", 2)]
    assert run.sink.delivered == [(taken.id,)]
    (dead,) = await store.dead_letters(SINK)
    assert dead.entry.event_id == refused.id
    assert dead.reason == "rejected: HTTP 400 invalid_payload"
    assert dead.attempts == 1
    assert run.runner.disabled is None
    assert await store.sink_disabled(SINK) is None
    assert run.sample(DISABLED) == 0
    assert run.sample(UP) == 1  # the next delivery worked
    assert run.sample(FAILURES, reason="http_4xx") == 1
    assert run.sample(DELIVERIES) == 1


# --- an outage across a restart -----------------------------------------------------------------


async def test_nothing_is_lost_across_a_receiver_outage_and_a_restart(
    make_store: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    config = chat_config(SinkType.SLACK, slack.url, retry_schedule=PATIENT_SCHEDULE)
    slack.answer_with(500, "rollup_error")  # Slack's transient error
    events = list(await source.start(1, 2, 3))
    first_entry = [entry_of(events[0])]

    async with running_chat(config, store, http) as first:
        await eventually(lambda: len(slack.requests) >= 2)  # retrying, paced at 1/s
        await first.finish()
    (before,) = (await store.retry_states(SINK, first_entry)).values()
    assert before.attempts >= 2  # the schedule so far is in the store
    await store.close()

    restarted = await open_outbox(make_store)  # same consumer name: a restarted replica
    source.rebind(restarted)
    events += await source.end(1)  # committed while the sink is down
    events += await source.start(4)
    seen = len(slack.requests)
    async with running_chat(config, restarted, http) as second:
        await eventually(lambda: len(slack.requests) > seen)
        await eventually(lambda: second.runner.failing is not None)
        # The failing request may have been another message (a digest): wait for the first
        # entry's own next attempt to be recorded, then check it counted on from before.
        changed = await until(
            lambda: restarted.retry_states(SINK, first_entry),
            lambda states: list(states.values()) != [before],
            within=10,
        )
        (after,) = changed.values()
        assert after.attempts > before.attempts  # resumed, not started over
        assert second.sample(UP) == 0
        slack.answer_with(None)  # the receiver recovers
        await backlog_is(restarted, 0, within=10)
        await second.finish()

    assert all(
        r.status == 500 for r in slack.requests[: len(slack.requests) - len(slack.delivered)]
    )
    assert sorted(each_once(first, second)) == sorted(ids(events))  # every event, once
    assert len(slack.delivered) == len(second.sink.delivered)
    said = per_conference(shown(slack.delivered, slack_notices))
    assert said[1] in (["started_and_ended"], ["started", "ended"])  # never ended first
    assert {cid: said[cid] for cid in (2, 3, 4)} == {2: ["started"], 3: ["started"], 4: ["started"]}
    assert await restarted.dead_letters(SINK) == []
    assert second.sample(DELIVERIES) == len(events)
    assert second.sample(UP) == 1
    failed = [r for r in slack.requests if r.status == 500]
    assert first.sample(FAILURES, reason="http_5xx") + second.sample(
        FAILURES, reason="http_5xx"
    ) == len(failed)


async def test_a_stop_inside_group_wait_leaves_the_window_for_the_next_start(
    make_store: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    config = chat_config(SinkType.SLACK, slack.url, group_wait=5.0)
    events = await source.start(1, 2)
    async with running_chat(config, store, http) as first:
        await eventually(lambda: first.runner.inflight == 2)  # read, waiting in the window
        await first.finish()
    assert slack.requests == []
    assert await store.backlog(SINK) == 2  # not acknowledged: still the store's
    await store.close()

    restarted = await open_outbox(make_store)
    async with running_chat(chat_config(SinkType.SLACK, slack.url), restarted, http) as second:
        await slack.wait_for(2)
        await backlog_is(restarted, 0)
        await second.finish()

    assert shown(slack.requests, slack_notices) == [("started", 1), ("started", 2)]
    assert second.sink.delivered == [(event.id,) for event in events]


# --- replaying what a disabled sink kept --------------------------------------------------------


async def test_replayed_dead_letters_keep_started_before_ended(
    make_store: StoreFactory, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    async with SlackReceiver() as slack:
        slack.then(429, "rate_limited", {"Retry-After": "1"})
        await source.start(1)
        async with running_chat(chat_config(SinkType.SLACK, slack.url), store, http) as run:
            await eventually(lambda: len(slack.requests) == 1)  # throttled: retried in 1 s
            await source.end(1)  # a window of its own, queued behind the start
            slack.answer_with(200, "no_service")  # ... and then the webhook is gone
            await eventually(lambda: run.runner.disabled is not None)
            await backlog_is(store, 0)
            assert await store.count_dead(SINK) == 2

            slack.answer_with(None)  # fixed; enable first, then replay (see the next test)
            await store.enable_sink(SINK)
            assert await store.replay_dead(SINK) == 2
            first = (await slack.wait_for(1))[0]
            assert slack_notices(first.json)[0] in (("started_and_ended", 1), ("started", 1))
            if slack_notices(first.json) == [("started", 1)]:
                await slack.wait_for(2)
            await backlog_is(store, 0)
            await run.finish()

    said = per_conference(shown(slack.delivered, slack_notices))
    assert said[1] in (["started_and_ended"], ["started", "ended"])


class SlowEnable(PassThroughStore):
    """A store whose ``enable_sink`` takes a moment: a CLI a few network hops from Redis."""

    async def enable_sink(self, sink: str) -> None:
        await asyncio.sleep(0.2)  # the latency itself: what the test is about
        await self.inner.enable_sink(sink)


async def test_dlq_replay_delivers_what_a_disabled_sink_kept(
    redis_url: str,
    slack: SlackReceiver,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = dlq._open

    def slow_open(settings: Settings, sink: str | None) -> tuple[Any, list[str]]:
        store, names = opened(settings, sink)
        return SlowEnable(store), names

    monkeypatch.setattr(dlq, "_open", slow_open)
    config = chat_config(SinkType.SLACK, slack.url)
    settings = settings_for((source_config("http://127.0.0.1:9"),), (config,), state_url=redis_url)
    async with store_factory("redis", redis_url) as factory:
        store = await open_outbox(factory)
        source = Source(store)
        slack.answer_with(404, "channel_not_found")
        events = await source.start(1)
        async with running_chat(config, store, http) as run:
            await eventually(lambda: run.runner.disabled is not None)
            await backlog_is(store, 0)

            slack.answer_with(None)  # the channel is back
            out = io.StringIO()
            assert await dlq.replay(settings, None, None, out, as_json=False) == 0
            assert "sink chat: 1 dead letter(s) sent back for delivery" in out.getvalue()
            await slack.wait_for(1)  # the letter, delivered again
            await backlog_is(store, 0)
            await idle(run.runner)
            await run.finish()

        assert await store.dead_letters(SINK) == []
    assert shown(slack.delivered, slack_notices) == [("started", 1)]
    assert run.sink.delivered == [(events[0].id,)]
