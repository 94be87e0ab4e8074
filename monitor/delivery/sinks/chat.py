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

from monitor.config.settings import SinkConfig, SinkType
from monitor.core.tls import client_tls
from monitor.delivery.sinks.base import Attempt, Message
from monitor.delivery.sinks.http import post
from monitor.delivery.sinks.notice import Chunk, Notice, encode, merge, notice_of
from monitor.delivery.sinks.slack_format import escape, slack_digest, slack_message, slack_verdict
from monitor.delivery.sinks.teams_format import (
    message_of,
    teams_digest,
    teams_message,
    teams_verdict,
)
from monitor.store.values import OutboxEntry


@dataclass(frozen=True, slots=True)
class ChatFormat:
    message: Callable[[Notice], dict[str, Any]]
    digest: Callable[[Sequence[Notice]], list[Chunk]]
    verdict: Callable[[int, bytes, float | None, str], Attempt]
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
        self._tls = client_tls(config.ca_file, f"ca_file of sink {config.name!r}")

    def render(self, entries: Sequence[OutboxEntry]) -> list[Message]:
        # One event can be in the outbox twice (at least once: a commit that failed halfway is
        # repeated, a dead letter replayed while still pending); both copies ride in the
        # message that shows it, and are settled with it.
        by_id: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            by_id.setdefault(entry.event_id, []).append(entry)
        notices: list[Notice] = []
        others: list[Message] = []
        for event_id, copies in by_id.items():
            try:
                notices.append(notice_of(event_id, json.loads(copies[0].body)))
            except (ValueError, TypeError):  # a test event, or nothing we know how to show
                plain = self._format.plain(_plain(copies[0]))
                others.append(Message(tuple(copies), encode(plain)))
        notices = merge(notices)

        def covered(shown: Sequence[Notice]) -> tuple[OutboxEntry, ...]:
            return tuple(e for notice in shown for i in notice.event_ids for e in by_id[i])

        if len(by_id) > self._config.digest_threshold:
            messages = [
                Message(covered(chunk.notices), encode(chunk.payload))
                for chunk in self._format.digest(notices)
            ]
        else:
            messages = [
                Message(covered([notice]), encode(self._format.message(notice)))
                for notice in notices
            ]
        return messages + others

    async def send(self, message: Message) -> Attempt:
        answer = await post(
            self._session, self._config.url, message.body, {}, self._config.timeout, tls=self._tls
        )
        if isinstance(answer, Attempt):
            return answer
        url = self._config.url.reveal() if self._config.url else ""
        return self._format.verdict(answer.status, answer.body, answer.retry_after, url)


def _plain(entry: OutboxEntry) -> str:
    try:
        data = json.loads(entry.body).get("data", {})
        message = data.get("message") if isinstance(data, dict) else None
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{entry.type} (event {entry.event_id})")
