"""Chat sinks: Slack (Block Kit) and Microsoft Teams (Adaptive Card 1.4) messages people read.

The runner hands a chat sink the events of one ``group_wait`` window. More than
``digest_threshold`` of them become a digest (split to the platform's limits); fewer become one
message each, except that a conference which started and ended inside the window is one
message. Every event ends up in exactly one message, so each is settled exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.config import SinkConfig, SinkType
from monitor.sinks.base import Attempt, Message
from monitor.sinks.http import post
from monitor.sinks.notice import Chunk, Notice, encode, merge, notice_of
from monitor.sinks.slack_format import escape, slack_digest, slack_message, slack_verdict
from monitor.sinks.teams_format import message_of, teams_digest, teams_message, teams_verdict
from monitor.store import OutboxEntry


@dataclass(frozen=True, slots=True)
class ChatFormat:
    message: Callable[[Notice], dict[str, Any]]
    digest: Callable[[Sequence[Notice]], list[Chunk]]
    verdict: Callable[[int, bytes, float | None], Attempt]
    plain: Callable[[str], dict[str, Any]]  # for an event that is not about a conference


FORMATS = {
    SinkType.SLACK: ChatFormat(
        slack_message, slack_digest, slack_verdict, lambda text: {"text": escape(text)}
    ),
    SinkType.TEAMS: ChatFormat(
        teams_message,
        teams_digest,
        teams_verdict,
        lambda text: message_of([{"type": "TextBlock", "text": text, "wrap": True}], []),
    ),
}


class ChatSink:
    def __init__(self, config: SinkConfig, session: aiohttp.ClientSession) -> None:
        self.name = config.name
        self._config = config
        self._session = session
        self._format = FORMATS[config.type]

    def render(self, entries: Sequence[OutboxEntry]) -> list[Message]:
        by_id = {entry.event_id: entry for entry in entries}
        notices: list[Notice] = []
        others: list[Message] = []
        for entry in entries:
            try:
                notices.append(notice_of(entry.event_id, json.loads(entry.body)))
            except (ValueError, TypeError):  # a test event, or nothing we know how to show
                others.append(Message((entry,), encode(self._format.plain(_plain(entry)))))
        notices = merge(notices)
        if len(entries) > self._config.digest_threshold:
            messages = [
                Message(
                    tuple(by_id[i] for notice in chunk.notices for i in notice.event_ids),
                    encode(chunk.payload),
                )
                for chunk in self._format.digest(notices)
            ]
        else:
            messages = [
                Message(
                    tuple(by_id[i] for i in notice.event_ids), encode(self._format.message(notice))
                )
                for notice in notices
            ]
        return messages + others

    async def send(self, message: Message) -> Attempt:
        answer = await post(self._session, self._config.url, message.body, {}, self._config.timeout)
        if isinstance(answer, Attempt):
            return answer
        return self._format.verdict(answer.status, answer.body, answer.retry_after)


def _plain(entry: OutboxEntry) -> str:
    try:
        data = json.loads(entry.body).get("data", {})
        message = data.get("message") if isinstance(data, dict) else None
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{entry.type} (event {entry.event_id})")
