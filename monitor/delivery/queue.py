"""Messages waiting for a sink, in order per key, each key's head attempted when it is due.

A key is a conference (webhook sinks) or the whole sink (chat sinks): only a key's head is ever
attempted, so a message that waits for its retry holds back the messages behind it with the
same key (``started`` stays before ``ended``) and no others.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from monitor.delivery.sinks.base import Message
from monitor.store.values import OutboxEntry, RetryState


@dataclass(slots=True)
class Work:
    """A message and where it is in its retry schedule."""

    message: Message
    attempts: int = 0  # failed attempts so far
    due: float = 0.0  # unix time of the next attempt

    @property
    def size(self) -> int:
        return len(self.message.entries)


class KeyedQueue:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._queues: dict[str, deque[Work]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.waiting = 0  # entries whose message waits for a retry

    def push(self, key: str, work: Work) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(work)  # behind the key's head: it goes when the head is done
            return
        self._queues[key] = deque([work])
        self._schedule(key)

    def head(self, key: str) -> Work:
        return self._queues[key][0]

    def holds(self, key: str, work: Work) -> bool:
        """Is ``work`` still the head of ``key`` (not drained away meanwhile)?"""
        queue = self._queues.get(key)
        return queue is not None and queue[0] is work

    async def next_ready(self) -> str:
        """A key whose head may be attempted now (and is attempted by nobody else)."""
        return await self._ready.get()

    def done(self, key: str) -> None:
        """The head is settled (delivered or given up): the next message of the key is due."""
        queue = self._queues.get(key)
        if queue is None:  # drained meanwhile
            return
        queue.popleft()
        if queue:
            self._schedule(key)
        else:
            del self._queues[key]

    def later(self, key: str) -> None:
        """The head failed and has a new ``due``: attempt it then."""
        if key in self._queues:
            self._schedule(key)

    def _schedule(self, key: str) -> None:
        head = self._queues[key][0]
        delay = head.due - self._clock()
        if delay <= 0:
            self._ready.put_nowait(key)
            return
        self.waiting += head.size
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._due, key)

    def _due(self, key: str) -> None:
        self._timers.pop(key, None)
        self.waiting -= self.head(key).size
        self._ready.put_nowait(key)

    def drain(self, busy: set[str]) -> list[Work]:
        """Take every message out (the sink was disabled), but the heads of ``busy`` keys,
        whose attempts are under way and settle themselves."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.waiting = 0
        works: list[Work] = []
        for key in list(self._queues):
            queue = self._queues[key]
            kept = [queue.popleft()] if key in busy else []
            works.extend(queue)
            if kept:
                self._queues[key] = deque(kept)
            else:
                del self._queues[key]
        while not self._ready.empty():
            self._ready.get_nowait()
        return works

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


class Window:
    """Chat sinks: the events of a burst, gathered from the first one for ``group_wait``."""

    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []
        self.states: dict[str, RetryState] = {}  # retry states the events had before a restart
        self.opened = asyncio.Event()

    def add(self, entries: Sequence[OutboxEntry], states: Mapping[str, RetryState]) -> None:
        self.entries.extend(entries)
        self.states.update(states)
        self.opened.set()

    def take(self) -> tuple[list[OutboxEntry], dict[str, RetryState]]:
        taken = self.entries, self.states
        self.entries, self.states = [], {}
        self.opened.clear()
        return taken
