"""Chat sinks keep to their endpoint's pace: Slack's 1 message/s, and a 429's ``Retry-After``,
without losing an event or putting a conference's end before its start.

The fake Slack receiver enforces 1 accepted message per rolling second and answers 429 with
``Retry-After: 1`` beyond it, as Slack does; these tests take a few seconds because of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from monitor.config.settings import SinkType
from tests.support.chat_helpers import (
    ChatRun,
    Source,
    StoreFactory,
    backlog_is,
    chat_config,
    gaps,
    ids,
    open_outbox,
    running_chat,
    shown,
    slack_notices,
    store_factory,
)
from tests.support.chat_receivers import SlackReceiver
from tests.support.delivery_helpers import eventually

DELIVERIES = "conference_monitor_deliveries_total"
FAILURES = "conference_monitor_delivery_failures_total"
#: Arrival gaps are measured at the receiver: allow its clock a few ms of scheduling noise.
SECOND = 0.98


@pytest.fixture
async def slack() -> AsyncIterator[SlackReceiver]:
    async with SlackReceiver() as receiver:
        yield receiver


def each_once(run: ChatRun) -> list[str]:
    delivered = [event_id for message in run.sink.delivered for event_id in message]
    assert len(delivered) == len(set(delivered)), "an event was delivered twice"
    return delivered


async def test_slack_messages_go_out_a_second_apart_and_none_is_throttled(
    slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    async with store_factory("memory", None) as memory:
        store = await open_outbox(memory)
        source = Source(store)
        config = chat_config(SinkType.SLACK, slack.url)  # rate 1/s, as parse_sink defaults
        events = list(await source.start(1, 2))  # one window, two messages

        async with running_chat(config, store, http) as run:
            await slack.wait_for(1)
            events += await source.end(1)  # a second window while the first is paced
            await slack.wait_for(3)
            await backlog_is(store, 0)
            await run.finish()

    assert [r.status for r in slack.requests] == [200, 200, 200]  # no 429: paced, not bounced
    assert min(gaps(slack.requests)) >= SECOND
    assert shown(slack.requests, slack_notices) == [("started", 1), ("started", 2), ("ended", 1)]
    assert run.sink.delivered == [(event.id,) for event in events]
    assert run.sample(FAILURES, reason="throttled") == 0


async def test_a_429_is_retried_after_retry_after_in_order_and_nothing_is_lost(
    make_store: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    # 4 messages/s against Slack's 1/s: the receiver answers 429 + Retry-After: 1.
    config = chat_config(SinkType.SLACK, slack.url, rate=4.0)
    events = list(await source.start(1, 2))

    async with running_chat(config, store, http) as run:
        await eventually(lambda: any(r.status == 429 for r in slack.requests))
        events += await source.end(2)  # queued behind the throttled start of conference 2
        await slack.wait_for(3)
        await backlog_is(store, 0)
        await run.finish()

    throttled = [i for i, r in enumerate(slack.requests) if r.status == 429]
    assert throttled
    for i in throttled:  # the next request waited for Retry-After (1 s, not the 50 ms schedule)
        assert slack.requests[i + 1].at - slack.requests[i].at >= SECOND
    assert [r.status for r in slack.requests].count(200) == 3
    assert shown(slack.delivered, slack_notices) == [("started", 1), ("started", 2), ("ended", 2)]
    assert run.sink.delivered == [(event.id,) for event in events]
    assert sorted(each_once(run)) == sorted(ids(events))
    assert run.sample(FAILURES, reason="throttled") == len(throttled)
    assert run.sample(DELIVERIES) == 3
    assert await store.dead_letters("chat") == []


async def test_a_retry_after_given_as_an_http_date_is_honoured(http: aiohttp.ClientSession) -> None:
    async with store_factory("memory", None) as memory, SlackReceiver() as slack:
        store = await open_outbox(memory)
        source = Source(store)
        until = datetime.now(UTC) + timedelta(seconds=2)
        slack.then(429, "rate_limited", {"Retry-After": format_datetime(until, usegmt=True)})
        events = await source.start(1)

        async with running_chat(chat_config(SinkType.SLACK, slack.url), store, http) as run:
            await slack.wait_for(1)
            await backlog_is(store, 0)
            await run.finish()

    first, second = slack.requests
    assert first.status == 429
    assert second.status == 200
    # The date has whole seconds: it is between 1 and 2 s after the 429.
    assert second.at - first.at >= SECOND
    assert run.sink.delivered == [(events[0].id,)]
