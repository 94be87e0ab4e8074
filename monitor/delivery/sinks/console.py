"""Prints each event as one readable line on stdout: what `demo` shows a newcomer."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO, Any

from monitor.delivery.sinks.base import Attempt, Message
from monitor.delivery.sinks.notice import context_label
from monitor.store.values import OutboxEntry


def describe(envelope: dict[str, Any]) -> str:
    data = envelope.get("data", {})
    if not str(envelope.get("type", "")).startswith("conference."):
        return _notice(envelope, data)
    conference = data.get("conference", {})
    kind = envelope.get("type", "?").removeprefix("conference.")
    context = data.get("context")
    where = context_label(context if isinstance(context, dict) else {}, conference) or "?"
    line = (
        f"{envelope.get('timestamp', '')}  {kind:<8} [{data.get('source', '?')}] "
        f"{conference.get('title', '')!r} (id {conference.get('id')}, "
        f"{conference.get('conference_type', '?')}, {where})"
    )
    if data.get("restart"):
        line += " restart"
    if data.get("reason"):
        line += f" reason={data['reason']}"
    return line


def _notice(envelope: dict[str, Any], data: dict[str, Any]) -> str:
    """An event about the monitor itself (``check --send-test``'s ``monitor.test``): it names
    no conference, so it says what it is and who it is for."""
    kind = str(envelope.get("type", "?")).removeprefix("monitor.")
    about = data.get("sink") or data.get("source") or "?"
    return f"{envelope.get('timestamp', '')}  {kind:<8} [{about}] {data.get('message', '')}"


class ConsoleSink:
    def __init__(self, name: str, stream: IO[str] | None = None) -> None:
        self.name = name
        self._stream = stream

    def render(self, entries: Sequence[OutboxEntry]) -> list[Message]:
        return [Message((entry,), entry.body) for entry in entries]

    async def send(self, message: Message) -> Attempt:
        stream = self._stream if self._stream is not None else sys.stdout
        for entry in message.entries:
            print(describe(json.loads(entry.body)), file=stream, flush=True)
        return Attempt.ok()
