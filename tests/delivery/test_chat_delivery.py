"""Chat sinks over real HTTP: a ``group_wait`` window becomes one message per event, a merged
"started and ended" message, or a digest, and every event of it is settled exactly once.

The runner, the stores (memory and a real redis-server) and the fake Slack and Teams receivers
are all real; only the poller is replaced by ``Source``, which commits transitions directly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from monitor.config.settings import SinkType
from monitor.delivery.sinks import ChatSink
from tests.support.chat_helpers import (
    ChatRun,
    Source,
    StoreFactory,
    backlog_is,
    chat_config,
    ids,
    open_outbox,
    per_conference,
    running_chat,
    shown,
    slack_notices,
    store_factory,
    teams_notices,
)
from tests.support.chat_receivers import CARD_TYPE, SlackReceiver, TeamsReceiver, teams_problems
from tests.support.delivery_helpers import entry_of, eventually, idle

DELIVERIES = "conference_monitor_deliveries_total"
LAG = "conference_monitor_delivery_lag_seconds"


@pytest.fixture
async def memory() -> AsyncIterator[StoreFactory]:
    async with store_factory("memory", None) as factory:
        yield factory


@pytest.fixture
async def slack() -> AsyncIterator[SlackReceiver]:
    async with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
async def teams() -> AsyncIterator[TeamsReceiver]:
    async with TeamsReceiver() as receiver:
        yield receiver


def delivered_once(run: ChatRun) -> list[str]:
    """Every event id the sink delivered, asserting that each was in exactly one message."""
    delivered = [event_id for message in run.sink.delivered for event_id in message]
    assert len(delivered) == len(set(delivered)), "an event was delivered twice"
    return delivered


# --- one window, one conference: started and ended ----------------------------------------------


async def test_a_start_and_end_inside_group_wait_are_one_message(
    make_store: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    config = chat_config(SinkType.SLACK, slack.url, group_wait=0.5)

    async with running_chat(config, store, http) as run:
        began = await source.start(1)
        await eventually(lambda: run.runner.inflight == 1)  # read: its window is open
        finished = await source.end(1)  # well inside the window
        await slack.wait_for(1)
        await backlog_is(store, 0)
        await idle(run.runner)  # every event settled: a second message would be out by now
        await run.finish()

    assert len(slack.requests) == 1
    (message,) = slack.delivered
    assert slack_notices(message.json) == [("started_and_ended", 1)]
    assert message.json["text"].startswith("Started and ended: Conference 1")
    assert run.sink.delivered == [(*ids(began), *ids(finished))]
    assert run.sample(DELIVERIES) == 2  # counted per event, not per message
    assert await store.dead_letters("chat") == []


# --- bursts: a digest above the threshold, single messages up to it -----------------------------


async def test_a_burst_over_the_threshold_is_one_digest_listing_each_conference_once(
    make_store: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    events = [*await source.start(1, 2, 3, 4, 5), *await source.end(1, 2)]  # 7 > 3 events

    async with running_chat(chat_config(SinkType.SLACK, slack.url), store, http) as run:
        await slack.wait_for(1)
        await backlog_is(store, 0)
        await idle(run.runner)
        await run.finish()

    assert len(slack.requests) == 1
    (digest,) = slack.delivered
    assert digest.json["text"] == "5 conferences: 3 started, 2 started and ended"
    assert slack_notices(digest.json) == [
        ("started_and_ended", 1),
        ("started_and_ended", 2),
        ("started", 3),
        ("started", 4),
        ("started", 5),
    ]
    assert sorted(delivered_once(run)) == sorted(ids(events))
    assert run.sample(DELIVERIES) == 7
    assert await store.dead_letters("chat") == []


async def test_at_most_the_threshold_is_one_message_per_event_in_order(
    memory: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(memory)
    source = Source(store)
    events = await source.start(1, 2, 3)  # exactly digest_threshold events

    async with running_chat(chat_config(SinkType.SLACK, slack.url), store, http) as run:
        await slack.wait_for(3)
        await backlog_is(store, 0)
        await run.finish()

    # Pacing itself is test_chat_delivery_pacing's subject: here, what was delivered.
    assert [slack_notices(r.json) for r in slack.delivered] == [
        [("started", 1)],
        [("started", 2)],
        [("started", 3)],
    ]
    assert run.sink.delivered == [(event.id,) for event in events]
    assert run.sample(DELIVERIES) == 3


async def test_a_burst_of_120_is_digests_that_list_every_conference_once(
    memory: StoreFactory, teams: TeamsReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(memory)
    source = Source(store)
    events = await source.start(*range(1, 121))

    async with running_chat(chat_config(SinkType.TEAMS, teams.url), store, http) as run:
        await backlog_is(store, 0, within=20)
        await run.finish()

    assert teams.requests == teams.delivered
    for request in teams.delivered:
        assert request.status == 202
        assert teams_problems(request.json, len(request.body)) == []
        heading = request.json["attachments"][0]["content"]["body"][0]["text"]
        assert " conferences: " in heading, heading  # a digest, never one card per event
    listed = shown(teams.delivered, teams_notices)
    assert listed == [("started", cid) for cid in range(1, 121)]
    assert sorted(delivered_once(run)) == sorted(ids(events))
    assert run.sample(DELIVERIES) == 120


@pytest.mark.parametrize("burst", [40, 120])
async def test_a_burst_within_group_wait_is_split_only_at_the_platform_limits(
    burst: int, memory: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(memory)
    source = Source(store)
    events = await source.start(*range(1, burst + 1))
    config = chat_config(SinkType.SLACK, slack.url)
    # What the sink makes of the whole burst when it sees it as one window.
    expected = [
        slack_notices(json.loads(m.body))
        for m in ChatSink(config, http).render([entry_of(e) for e in events])
    ]
    assert len(expected) == (1 if burst <= 50 else 3)

    async with running_chat(config, store, http) as run:
        first = (await slack.wait_for(1))[0]
        assert slack_notices(first.json) == expected[0]  # the whole burst, not 16 of it
        await slack.wait_for(len(expected))
        await backlog_is(store, 0)
        await run.finish()

    assert [slack_notices(r.json) for r in slack.delivered] == expected
    assert sorted(delivered_once(run)) == sorted(ids(events))
    assert run.sample(DELIVERIES) == burst


# --- Teams --------------------------------------------------------------------------------------


async def test_teams_gets_adaptive_cards_1_4_it_accepts_with_202(
    memory: StoreFactory, teams: TeamsReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(memory)
    source = Source(store)
    events = list(await source.start(1, 2))

    async with running_chat(chat_config(SinkType.TEAMS, teams.url), store, http) as run:
        await teams.wait_for(2)
        events += await source.end(1)  # a window of its own
        await teams.wait_for(3)
        await backlog_is(store, 0)
        await run.finish()

    assert [r.status for r in teams.requests] == [202, 202, 202]
    for request in teams.requests:
        assert teams_problems(request.json, len(request.body)) == []
        assert request.headers["content-type"] == "application/json"
        (attachment,) = request.json["attachments"]
        assert attachment["contentType"] == CARD_TYPE
        assert attachment["content"]["version"] == "1.4"
    assert shown(teams.requests, teams_notices) == [("started", 1), ("started", 2), ("ended", 1)]
    assert run.sink.delivered == [(event.id,) for event in events]


async def test_teams_gets_one_digest_card_for_a_burst(
    make_store: StoreFactory, teams: TeamsReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    source = Source(store)
    events = [*await source.start(1, 2, 3, 4), *await source.end(3)]

    async with running_chat(chat_config(SinkType.TEAMS, teams.url), store, http) as run:
        await teams.wait_for(1)
        await backlog_is(store, 0)
        await idle(run.runner)
        await run.finish()

    (card,) = teams.requests
    assert card.status == 202
    assert teams_problems(card.json, len(card.body)) == []
    assert card.json["attachments"][0]["content"]["body"][0]["text"] == (
        "4 conferences: 3 started, 1 started and ended"
    )
    assert per_conference(teams_notices(card.json)) == {
        1: ["started"],
        2: ["started"],
        3: ["started_and_ended"],
        4: ["started"],
    }
    assert sorted(delivered_once(run)) == sorted(ids(events))


# --- lag ----------------------------------------------------------------------------------------


async def test_the_delivery_lag_of_a_chat_sink_includes_its_group_wait(
    memory: StoreFactory, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(memory)
    source = Source(store)
    group_wait = 0.6
    async with running_chat(
        chat_config(SinkType.SLACK, slack.url, group_wait=group_wait), store, http
    ) as run:
        # Events carry whole-second detection times: detect right after a second begins, so
        # the measured lag is the real one (within a few ms), not up to a second more.
        await asyncio.sleep(1.0 - time.time() % 1.0 + 0.002)
        await source.start(1, now=datetime.now(UTC))
        await slack.wait_for(1)
        await backlog_is(store, 0)
        await run.finish()

    assert run.sample(f"{LAG}_count") == 1
    assert run.sample(f"{LAG}_sum") >= group_wait
    assert run.sample(f"{LAG}_bucket", le="0.5") == 0
    assert run.sample(f"{LAG}_bucket", le="2.0") == 1  # and not absurdly long either
