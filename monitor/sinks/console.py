"""Prints each event as one readable line on stdout: what `demo` shows a newcomer."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO, Any

from monitor.sinks.base import Attempt, Message
from monitor.store import OutboxEntry


def describe(envelope: dict[str, Any]) -> str:
    data = envelope.get("data", {})
    conference = data.get("conference", {})
    kind = envelope.get("type", "?").removeprefix("conference.")
    where = f"{conference.get('context_type', '?')} {conference.get('context_id', '?')}"
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
