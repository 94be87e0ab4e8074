"""The chat messages over real HTTP, and the fake Slack and Teams receivers themselves.

The receivers stand in for Slack and Teams in every delivery test, so they are tested too: they
must refuse what the real services refuse, or a formatter bug would pass unseen.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from monitor.canvas.http_headers import retry_after
from monitor.core.models import EndReason
from monitor.delivery.sinks.base import Attempt, Verdict
from monitor.delivery.sinks.notice import encode, merge
from monitor.delivery.sinks.slack_format import slack_digest, slack_message, slack_verdict
from monitor.delivery.sinks.teams_format import teams_digest, teams_message, teams_verdict
from tests.delivery.sinks.test_chat_format import ended, started
from tests.support.chat_receivers import (
    SlackReceiver,
    TeamsReceiver,
    slack_problems,
    teams_problems,
)

Verdictor = Callable[[int, bytes, float | None], Attempt]


@pytest.fixture
async def slack() -> AsyncIterator[SlackReceiver]:
    async with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
async def teams() -> AsyncIterator[TeamsReceiver]:
    async with TeamsReceiver() as receiver:
        yield receiver


async def post(url: str, payload: Any, verdict: Verdictor) -> Attempt:
    """POST the bytes a sink would send and judge the answer the way the sink will."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"content-type": "application/json"}) as response,
    ):
        answer = await response.read()
        return verdict(response.status, answer, retry_after(response.headers.get("Retry-After")))


# --- the formatters' messages are taken ---------------------------------------------------------


async def test_slack_takes_every_kind_of_message(slack: SlackReceiver) -> None:
    slack.rate_limit = False
    notices = [
        started(1, title="Office hours & <Q&A>"),
        ended(2, reason=EndReason.EXPIRED),
        *merge([started(3), ended(3)]),
        started(4, restart=True, url=None),
    ]
    payloads = [slack_message(n) for n in notices]
    payloads += [c.payload for c in slack_digest([started(i) for i in range(120)])]
    for payload in payloads:
        attempt = await post(slack.url, payload, slack_verdict)
        assert attempt.delivered, attempt.detail
    accepted = await slack.wait_for(len(payloads))
    assert [r.json for r in accepted] == payloads
    assert all(r.answer == "ok" and r.status == 200 for r in accepted)


async def test_teams_takes_every_kind_of_message(teams: TeamsReceiver) -> None:
    teams.rate_limit = False
    notices = [started(1, title="**not bold** _x_"), ended(2, reason=EndReason.UNCONFIRMED)]
    payloads = [teams_message(n) for n in notices]
    payloads += [c.payload for c in teams_digest([started(i, title="é" * 150) for i in range(120)])]
    for payload in payloads:
        attempt = await post(teams.url, payload, teams_verdict)
        assert attempt.delivered, attempt.detail
        assert attempt.status == 202
    assert [r.json for r in await teams.wait_for(len(payloads))] == payloads
    assert {r.answer for r in teams.delivered} == {""}


# --- pacing ------------------------------------------------------------------------------------


async def test_slack_takes_one_message_per_second(slack: SlackReceiver) -> None:
    message = slack_message(started())
    assert (await post(slack.url, message, slack_verdict)).delivered
    throttled = await post(slack.url, message, slack_verdict)
    assert throttled.verdict is Verdict.RETRY
    assert throttled.failure == "throttled"
    assert throttled.retry_after == 1.0
    assert slack.requests[-1].answer == "rate_limited"
    await asyncio.sleep(1.05)
    assert (await post(slack.url, message, slack_verdict)).delivered
    first, _, third = (r.at for r in slack.requests)
    assert third - first >= 1.0
    assert len(slack.delivered) == 2


async def test_teams_takes_four_messages_per_second(teams: TeamsReceiver) -> None:
    message = teams_message(started())
    attempts = [await post(teams.url, message, teams_verdict) for _ in range(5)]
    assert [a.delivered for a in attempts] == [True] * 4 + [False]
    assert (attempts[4].verdict, attempts[4].failure) == (Verdict.RETRY, "throttled")
    assert attempts[4].retry_after == 1.0


# --- refusals, and what the sink makes of them ---------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (404, "channel_not_found", Verdict.DISABLED),
        (410, "channel_is_archived", Verdict.DISABLED),
        (200, "no_service", Verdict.DISABLED),
        (403, "invalid_token", Verdict.DISABLED),
        (500, "rollup_error", Verdict.RETRY),
    ],
)
async def test_slack_forced_answers(
    slack: SlackReceiver, status: int, body: str, verdict: Verdict
) -> None:
    slack.answer_with(status, body)
    attempt = await post(slack.url, slack_message(started()), slack_verdict)
    assert attempt.verdict is verdict
    assert attempt.detail == f"HTTP {status} {body}"
    assert slack.delivered == []
    slack.answer_with(None)
    assert (await post(slack.url, slack_message(started()), slack_verdict)).delivered


async def test_slack_refuses_malformed_messages(slack: SlackReceiver) -> None:
    slack.rate_limit = False
    too_many = {"text": "x", "blocks": [{"type": "divider"}] * 51}
    for payload, code in [
        (too_many, "invalid_payload"),
        ({"blocks": []}, "no_text"),
        (b"not json", "invalid_payload"),
    ]:
        attempt = await post(slack.url, payload, slack_verdict)
        assert (attempt.verdict, attempt.status) == (Verdict.REJECTED, 400)
        assert attempt.detail == f"HTTP 400 {code}"
    assert slack.delivered == []


async def test_teams_refuses_newer_cards_and_odd_shapes(teams: TeamsReceiver) -> None:
    teams.rate_limit = False
    good = teams_message(started())
    newer = copy.deepcopy(good)
    newer["attachments"][0]["content"]["version"] = "1.5"
    table = copy.deepcopy(good)
    table["attachments"][0]["content"]["body"].append({"type": "Table", "rows": []})
    huge = copy.deepcopy(good)
    huge["attachments"][0]["content"]["body"].append({"type": "TextBlock", "text": "x" * 29000})
    for payload, why in [(newer, "version"), (table, "Table"), (huge, "bytes")]:
        attempt = await post(teams.url, payload, teams_verdict)
        assert (attempt.verdict, attempt.status) == (Verdict.REJECTED, 400)
        assert why in json.loads(teams.requests[-1].answer)["error"]["message"]
    teams.answer_with(404)
    assert (await post(teams.url, good, teams_verdict)).verdict is Verdict.DISABLED
    assert teams.delivered == []


async def test_wait_for_times_out_when_nothing_is_taken(slack: SlackReceiver) -> None:
    with pytest.raises(TimeoutError):
        await slack.wait_for(1, within=0.05)


# --- the validators catch what the services would refuse ----------------------------------------


def _slack(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    message = slack_message(ended(reason=EndReason.EXPIRED))
    change(message)
    return message


SLACK_BREAKAGES: list[Callable[[dict[str, Any]], None]] = [
    lambda m: m.update(text=""),
    lambda m: m["blocks"][0]["text"].update(text="x" * 151),
    lambda m: m["blocks"][0]["text"].update(type="mrkdwn"),
    lambda m: m["blocks"][1].update(fields=m["blocks"][1]["fields"] * 3),
    lambda m: m["blocks"][1]["fields"][0].update(text="x" * 2001),
    lambda m: m["blocks"][1].update(text={"type": "mrkdwn", "text": "x" * 3001}),
    lambda m: m["blocks"][2]["elements"][0].update(url="javascript:alert(1)"),
    lambda m: m["blocks"].append({"type": "video"}),
    lambda m: m["blocks"].append({"type": "section"}),
    lambda m: m["blocks"][-1].update(elements=[]),
]


@pytest.mark.parametrize("breakage", SLACK_BREAKAGES)
def test_the_slack_validator_catches(breakage: Callable[[dict[str, Any]], None]) -> None:
    assert slack_problems(_slack(lambda m: None)) == []
    assert slack_problems(_slack(breakage)) != []


def _teams(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    message = teams_message(started())
    change(message)
    return message


def _content(m: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = m["attachments"][0]["content"]
    return content


TEAMS_BREAKAGES: list[Callable[[dict[str, Any]], None]] = [
    lambda m: m.update(type="card"),
    lambda m: m["attachments"].append(m["attachments"][0]),
    lambda m: m["attachments"][0].update(contentType="application/json"),
    lambda m: _content(m).update(type="HeroCard"),
    lambda m: _content(m).update(version="2.0"),
    lambda m: _content(m).update(version="one"),
    lambda m: _content(m).update(body={}),
    lambda m: _content(m)["body"][1]["inlines"].append({"type": "Run"}),
    lambda m: _content(m)["body"][2]["facts"].append({"title": "x"}),
    lambda m: _content(m)["actions"].append({"type": "Action.OpenUrl", "url": "file:///x"}),
    lambda m: _content(m)["body"].append({"type": "Container", "items": [{"type": "Table"}]}),
]


@pytest.mark.parametrize("breakage", TEAMS_BREAKAGES)
def test_the_teams_validator_catches(breakage: Callable[[dict[str, Any]], None]) -> None:
    assert teams_problems(_teams(lambda m: None)) == []
    assert teams_problems(_teams(breakage)) != []
