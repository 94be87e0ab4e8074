"""The event history in Redis: one stream, ``ccm:{history}:events``, shared by every replica.

Why one stream of its own, written just after the commit, rather than the outbox kept longer
or a stream per source written by the commit script:

- **Bounds are global and exact.** ``history_max_events`` is a total: 10,000 events of 1,000
  sources stay 10,000 (the outbox, one stream per source, could only be bounded per source:
  1,000 times that), and the age bound is one ``XTRIM MINID``. Measured (2026-12, Redis 7):
  an event's body plus ~380 B of stream and index; 10,000 events of ~2 KB hold ~24 MB, whatever
  the number of sources. An append with its trims took ~180 µs, a page of 100 ~0.5 ms.
- **Reads are one key.** Newest first is one ``XREVRANGE``; the event stream of every replica
  follows it with one blocking ``XREAD``, which Redis Cluster accepts (a read across every
  source's outbox would be one command per slot). Whatever any replica commits reaches them.
  A hash beside it (same hash tag) maps each event id to its entry, so a client that resumes
  (``Last-Event-ID``) is found in one look-up, not by reading the history through.
- **Delivery is untouched.** The outbox stays trimmed on acknowledgement, and the commit
  script (invariant 2) is not changed; the history is not on the path of any delivery.

The price: the history is written after the commit, not inside it (in a Cluster the stream
has its own slot, so the script could not). A crash or a store failure between the two
leaves one event out of the history, never out of any sink's delivery: the history is a view
for people (the console, ``/api/v1/events``), and what is live stays in ``/api/v1/live``. A
failed append is logged (``history_append_failed``) and the commit still counts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import redis.asyncio as aioredis

from monitor.core.models import Event
from monitor.store.redis import keys
from monitor.store.redis.client import BLOCK_SLICE
from monitor.store.values import HistoryBounds, HistoryEntry, cursor_key

# KEYS: history stream, its id index; ARGV: max entries, max age (ms), then (event id, type,
# source, body) per event. Appends and indexes each event, then trims by count and by age
# (Redis's clock), dropping from the index the ids of the entries trimmed (unless a newer entry
# of the same event holds them): one step, so the index never names a missing entry for long.
APPEND: Final = """
for j = 3, #ARGV, 4 do
  local at = redis.call('XADD', KEYS[1], '*', 'id', ARGV[j], 'type', ARGV[j + 1],
                        'source', ARGV[j + 2], 'body', ARGV[j + 3])
  redis.call('HSET', KEYS[2], ARGV[j], at)
end
local function forget(entries)
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    for k = 1, #fields, 2 do
      if fields[k] == 'id' and redis.call('HGET', KEYS[2], fields[k + 1]) == entry[1] then
        redis.call('HDEL', KEYS[2], fields[k + 1])
      end
    end
  end
end
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  forget(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess))
  redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local floor = string.format('%d', now - tonumber(ARGV[2])) .. '-0'
local old = redis.call('XRANGE', KEYS[1], '-', '(' .. floor)
if #old > 0 then
  forget(old)
  redis.call('XTRIM', KEYS[1], 'MINID', floor)
end
return #old
"""


class RedisHistory:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis, bounds: HistoryBounds) -> None:
        self._redis = client
        self._bounds = bounds
        self._append = self.script = client.register_script(APPEND)
        self._key = keys.history()
        self._ids = keys.history_ids()

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        args: list[Any] = [self._bounds.max_events, int(self._bounds.max_age * 1000)]
        for event in events:
            args += [event.id, str(event.type), event.source, event.body()]
        await self._append(keys=[self._key, self._ids], args=args)

    def _oldest(self, now_ms: int) -> str:
        """The oldest cursor within the age bound: reads leave out what the next append
        trims (this replica's clock; the trim uses Redis's)."""
        return f"{max(now_ms - int(self._bounds.max_age * 1000), 0)}-0"

    async def history(self, limit: int, before: str | None = None) -> list[HistoryEntry]:
        if limit <= 0:
            return []
        now_ms = _now_ms()
        top = "+" if before is None else f"({before}"
        reply: Any = await self._redis.xrevrange(
            self._key, max=top, min=self._oldest(now_ms), count=limit
        )
        return [_entry(entry_id, fields) for entry_id, fields in reply]

    async def history_after(self, cursor: str, count: int, wait: float) -> list[HistoryEntry]:
        oldest = self._oldest(_now_ms())
        start = cursor if cursor_key(cursor) >= cursor_key(oldest) else oldest
        block = None if wait <= 0 else max(1, int(min(wait, BLOCK_SLICE) * 1000))
        reply: Any = await self._redis.xread({self._key: start}, count=count, block=block)
        return [_entry(entry_id, fields) for _, items in reply or [] for entry_id, fields in items]

    async def entry(self, event_id: str) -> HistoryEntry | None:
        at: Any = await self._redis.hget(self._ids, event_id)
        if at is None:
            return None
        cursor = at.decode()
        if cursor_key(cursor) < cursor_key(self._oldest(_now_ms())):
            return None  # past the age bound: the next append trims it
        reply: Any = await self._redis.xrange(self._key, min=cursor, max=cursor)
        return _entry(*reply[0]) if reply else None

    async def history_head(self) -> str:
        reply: Any = await self._redis.xrevrange(self._key, count=1)
        return reply[0][0].decode() if reply else "0-0"


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> HistoryEntry:
    cursor = entry_id.decode()
    return HistoryEntry(
        cursor=cursor,
        event_id=fields[b"id"].decode(),
        type=fields[b"type"].decode(),
        source=fields[b"source"].decode(),
        body=fields[b"body"],
        at=cursor_key(cursor)[0] / 1000,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
