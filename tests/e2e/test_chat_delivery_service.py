"""Chat sinks inside the whole service: the simulator's conferences reach a Slack channel as
messages a person can read, ``check --send-test`` reaches Slack and Teams, and a gone Slack
webhook shows on ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.commands import checks
from monitor.config.settings import SinkType
from monitor.delivery.sinks import ChatSink
from monitor.simulator import Simulator
from tests.support.chat_helpers import (
    SINK,
    chat_config,
)
from tests.support.chat_receivers import SlackReceiver, TeamsReceiver, teams_problems
from tests.support.service import get_json, running, settings_for, source_config, until


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def slack() -> AsyncIterator[SlackReceiver]:
    async with SlackReceiver() as receiver:
        yield receiver


async def metric(http: aiohttp.ClientSession, base: str, name: str, **labels: str) -> float | None:
    async with http.get(f"{base}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def ready(http: aiohttp.ClientSession, base: str) -> Any:
    return await until(lambda: get_json(http, f"{base}/readyz"), lambda r: r["ready"])


def texts(payload: Any) -> str:
    """Everything a Slack message shows, as one string."""
    return json.dumps(payload, ensure_ascii=False)


async def test_conferences_in_the_simulator_reach_slack_as_readable_messages(
    sim: Simulator, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    algebra = world.create_conference(title="Algebra 101 review")
    optics = world.create_conference(title="Optics lab", context_type="Group", context_id=7)
    settings = settings_for(
        (source_config(sim.url),), (chat_config(SinkType.SLACK, slack.url),), poll_interval=0.2
    )
    async with running(settings) as service:
        await ready(http, service.url)  # the baseline poll is done: what starts now is news
        world.start(algebra.id)
        world.start(optics.id)
        await slack.wait_for(2)
        world.end(algebra.id)
        await slack.wait_for(3)
        deliveries = "conference_monitor_deliveries_total"
        counted = await until(
            lambda: metric(http, service.url, deliveries, sink=SINK), lambda v: v == 3
        )

    assert counted == 3
    assert len(slack.delivered) == 3  # one message per event: at most the threshold per window
    assert all(r.status in (200, 429) for r in slack.requests)  # 429: see the pacing tests
    started = {slack.delivered[0].json["text"], slack.delivered[1].json["text"]}
    assert started == {
        "Live now: Algebra 101 review (BIO-101 · Introduction to Biology)",  # its name, asked once
        "Live now: Optics lab (Biology Study Group)",
    }
    ended = slack.delivered[2].json
    assert ended["text"] == "Ended: Algebra 101 review (BIO-101 · Introduction to Biology)"
    assert ended["blocks"][0]["text"]["text"].endswith("Ended: Algebra 101 review")
    assert f"conference {algebra.id} · noticed" in texts(ended["blocks"][-1])
    fields = texts(ended["blocks"][1])
    assert "*Duration*" in fields
    assert "*Where*\\nBIO-101 · Introduction to Biology" in fields
    (button,) = ended["blocks"][2]["elements"]
    assert button["url"].endswith(f"/courses/101/conferences/{algebra.id}")


async def test_a_gone_slack_webhook_shows_on_readyz_and_metrics(
    sim: Simulator, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    world = sim.world
    algebra = world.create_conference(title="Algebra 101 review")
    slack.answer_with(404, "channel_not_found")
    settings = settings_for(
        (source_config(sim.url),), (chat_config(SinkType.SLACK, slack.url),), poll_interval=0.2
    )
    async with running(settings) as service:
        await ready(http, service.url)
        world.start(algebra.id)
        body = await until(
            lambda: get_json(http, f"{service.url}/readyz"),
            lambda r: any("disabled" in check for check in r["checks"]),
        )
        dead = await until(
            lambda: metric(http, service.url, "conference_monitor_dead_letters", sink=SINK),
            lambda v: v == 1,
        )
        disabled = await metric(http, service.url, "conference_monitor_sink_disabled", sink=SINK)
        up = await metric(http, service.url, "conference_monitor_sink_up", sink=SINK)

    assert body["ready"] is True  # a sink never makes the service unready
    (check,) = [c for c in body["checks"] if c["name"] == f"sink:{SINK}"]
    assert check["disabled"] == "HTTP 404 channel_not_found"
    assert (dead, disabled, up) == (1, 1, 0)
    assert len(slack.requests) == 1


async def test_check_send_test_reaches_slack_and_teams_as_plain_messages(
    sim: Simulator, slack: SlackReceiver, http: aiohttp.ClientSession
) -> None:
    async with TeamsReceiver() as teams:
        to_slack = chat_config(SinkType.SLACK, slack.url, name="slack")
        to_teams = chat_config(SinkType.TEAMS, teams.url, name="teams")
        entry = checks.test_entry(to_slack)
        (message,) = ChatSink(to_slack, http).render([entry])  # what --send-test sends
        assert message.entries == (entry,)

        out = io.StringIO()
        settings = settings_for((source_config(sim.url),), (to_slack, to_teams))
        assert await checks.check(settings, out, send_test=True), out.getvalue()

    lines = out.getvalue().splitlines()
    assert "ok    sink slack: slack accepted the test event" in lines
    assert "ok    sink teams: teams accepted the test event" in lines
    words = "test event from conference-monitor check"
    (plain,) = slack.delivered
    assert plain.json == json.loads(message.body) == {"text": words}  # no blocks: plain text
    (card,) = teams.delivered
    assert card.status == 202
    assert teams_problems(card.json, len(card.body)) == []
    assert card.json["attachments"][0]["content"]["body"][0]["text"] == words
