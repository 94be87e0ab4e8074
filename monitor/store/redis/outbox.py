"""The outbox in Redis: one stream per source, one consumer group per sink.

An entry stays in a group's pending list until the sink acknowledges it. A restarted process
first reads its own pending entries (same consumer name); entries a silent consumer left idle
past ``Timings.claim_idle`` are taken over (``XAUTOCLAIM``), while a live consumer with a long retry
refreshes its claim (``keep``). A stream Redis lost comes back with its groups, from its start.
Every command names one stream or one sink's keys, so each stays in one Redis Cluster slot;
reading several streams at once is ``StreamReads``' business (one XREADGROUP, or one each).

What costs one command per stream, that is per source, is done rarely: looking for idle entries
every ``claim_every``, and trimming only the streams that acknowledgements moved since the last
trim (an idle outbox is never trimmed, it has nothing to lose).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from monitor.core.timings import Timings
from monitor.store.redis import keys
from monitor.store.redis.codec import decode_entry
from monitor.store.redis.scripts import FORGET_IDLE_CONSUMERS, TRIM
from monitor.store.redis.stream_reads import StreamReads
from monitor.store.values import OutboxEntry

log = structlog.get_logger("monitor.store")


class RedisOutbox:
    """Redis errors pass through; ``RedisStore`` converts them, naming what failed."""

    def __init__(self, client: aioredis.Redis, consumer: str, timings: Timings) -> None:
        self._redis = client
        self._consumer = consumer
        self._forget_idle = client.register_script(FORGET_IDLE_CONSUMERS)
        # A sink's new holder adopts whatever the former one held at once (``supervise``), so
        # the look for idle entries is the safety net for the rest (a read that reached Redis
        # very late); such an entry is delivered within claim_idle + claim_every, five minutes.
        self._claim_idle_ms = int(timings.claim_idle * 1000)
        self._claim_every = timings.claim_every
        self._trim = client.register_script(TRIM)
        self.sources: list[str] = []
        self.sinks: list[str] = []
        self._replay: dict[str, dict[str, str]] = {}  # sink -> stream -> pending cursor
        self._claimed_at: dict[str, float] = {}  # sink -> time.monotonic() of the last claim
        self._claim_cursor: dict[tuple[str, str], str] = {}  # (sink, stream) -> XAUTOCLAIM start
        self._reads = StreamReads(client, consumer)
        self._acked: set[str] = set()  # outboxes with acknowledgements since their last trim
        self.dropped: set[str] = set()  # sinks that acknowledged away entries they could not read

    def streams(self, sink: str) -> list[str]:
        """What ``sink`` reads: every source's outbox, and its own replay stream."""
        return [*(keys.outbox(source) for source in self.sources), keys.sink_replay(sink)]

    async def open(self, sinks: Sequence[str], sources: Sequence[str]) -> None:
        self.sources, self.sinks = list(sources), list(sinks)
        self._acked = {keys.outbox(source) for source in sources}  # what the last run left
        for sink in sinks:
            await self._create_groups(sink, "$")
            self._reads.drop(sink)
        self._replay = {sink: dict.fromkeys(self.streams(sink), "0") for sink in sinks}

    def reopen(self, sink: str) -> None:
        """Read the sink's pending entries first again (after adopting others' entries)."""
        self._replay[sink] = dict.fromkeys(self.streams(sink), "0")
        self._reads.drop(sink)

    async def _create_groups(self, sink: str, start: str) -> None:
        """Make ``sink`` a consumer group of every stream it reads that lacks it: outboxes from
        ``start``, its replay stream from its beginning (what is in it was put there for it)."""
        for stream in self.streams(sink):
            begin = "0" if keys.is_replay(stream) else start
            try:
                await self._redis.xgroup_create(stream, sink, begin, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read(self, sink: str, count: int, wait: float) -> list[OutboxEntry]:
        try:
            replay = self._replay.get(sink)
            if replay:
                pending = await self._read_pending(sink, replay, count)
                if pending or replay:
                    return pending
            if time.monotonic() - self._claimed_at.get(sink, 0.0) >= self._claim_every:
                self._claimed_at[sink] = time.monotonic()
                if claimed := await self._claim(sink, count):
                    return claimed
            reply = await self._reads.read_new(sink, self.streams(sink), count, wait)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._recreate_groups(sink)
            return []
        found: list[OutboxEntry] = []
        for stream, items in reply:
            found += await self._usable(sink, stream, items)
        return found

    async def close(self) -> None:
        """Stop reads still waiting (Redis Cluster); what they got stays pending."""
        await self._reads.close()

    async def _recreate_groups(self, sink: str) -> None:
        """Redis lost an outbox (a restart without persistence, eviction): read it again from
        its start, since whatever is in it now was committed after the loss."""
        log.warning("outbox_group_recreated", sink=sink)
        self._replay.pop(sink, None)
        self._reads.drop(sink)
        await self._create_groups(sink, "0")

    async def _read_pending(
        self, sink: str, cursors: dict[str, str], count: int
    ) -> list[OutboxEntry]:
        """Entries this consumer read before a restart and never acknowledged, oldest first."""
        reply = await self._reads.read_at(sink, cursors, count)
        found: list[OutboxEntry] = []
        answered: set[str] = set()
        for name, items in reply:
            answered.add(name)
            if not items:  # nothing more pending on this stream
                cursors.pop(name, None)
                continue
            cursors[name] = items[-1][0].decode()
            found += await self._usable(sink, name, items)
        for name in [name for name in cursors if name not in answered]:
            del cursors[name]
        return found

    async def _claim(self, sink: str, count: int) -> list[OutboxEntry]:
        """Take over entries another consumer read and left idle past ``claim_idle``; the scan
        goes on where the last one stopped, so a long pending list is covered in turns."""
        found: list[OutboxEntry] = []
        for stream in self.streams(sink):
            start = self._claim_cursor.get((sink, stream), "0-0")
            reply: Any = await self._redis.xautoclaim(
                stream, sink, self._consumer, self._claim_idle_ms, start, count=count
            )
            self._claim_cursor[(sink, stream)] = reply[0].decode()
            self.claimed(sink, reply)
            found += await self._usable(sink, stream, reply[1])
        if found:
            log.warning("outbox_entries_reclaimed", sink=sink, count=len(found))
        return found

    def claimed(self, sink: str, reply: Any) -> None:
        """Note an XAUTOCLAIM's answer: entries it found trimmed left the pending list without
        a word (Redis 7 lists their ids third), so their retry states, if any, are swept."""
        if len(reply) > 2 and reply[2]:
            self.dropped.add(sink)

    async def _usable(self, sink: str, stream: str, items: Any) -> list[OutboxEntry]:
        """Decode read entries; acknowledge away the ones with nothing (left) to deliver."""
        found: list[OutboxEntry] = []
        for entry_id, fields in items:
            if not fields:  # trimmed while pending: its retry state, if any, is swept
                await self._redis.xack(stream, sink, entry_id)
                self._acked.add(stream)
                self.dropped.add(sink)
                continue
            try:
                found.append(decode_entry(stream, entry_id, fields))
            except (KeyError, UnicodeDecodeError):
                log.warning(
                    "outbox_entry_dropped",
                    sink=sink,
                    entry_id=entry_id.decode(),
                    why="malformed: not written by this monitor",
                )
                await self._redis.xack(stream, sink, entry_id)
                self._acked.add(stream)
        return found

    async def keep(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        held = _by_stream(entries)
        for stream, ids in self._reads.held(sink).items():  # read, and not yet handed out
            held.setdefault(stream, []).extend(ids)
        for stream, ids in held.items():
            await self._redis.xclaim(stream, sink, self._consumer, 0, ids, justid=True)

    async def ack(self, sink: str, entries: Sequence[OutboxEntry]) -> None:
        """Acknowledge, drop replayed entries for good, and forget any retry state."""
        if not entries:
            return
        by_stream = _by_stream(entries)
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream, ids in by_stream.items():
                pipe.xack(stream, sink, *ids)
                if keys.is_replay(stream):
                    pipe.xdel(stream, *ids)
            pipe.hdel(keys.sink_retries(sink), *(entry.event_id for entry in entries))
            await pipe.execute()
        self._acked.update(by_stream)

    async def backlog(self, sink: str) -> int:
        total = 0
        for stream in self.streams(sink):
            groups: Any = await self._redis.xinfo_groups(stream)
            for group in groups:
                if group["name"].decode() != sink:
                    continue
                lag = group.get("lag")
                if lag is None:  # Redis < 7 does not report lag
                    start = "(" + group["last-delivered-id"].decode()
                    behind: Any = await self._redis.xrange(stream, min=start)
                    lag = len(behind)
                total += int(group["pending"]) + int(lag)
        return total

    async def trim(self) -> int:
        """Drop outbox entries every configured sink has acknowledged; returns how many.

        Only outboxes with acknowledgements since their last trim, here, can have something
        new to drop: the last sink to acknowledge an entry, on whichever replica, trims it."""
        removed = 0
        for source in self.sources:
            stream = keys.outbox(source)
            if stream in self._acked:
                self._acked.discard(stream)
                try:
                    removed += int(await self._trim(keys=[stream], args=self.sinks))
                except BaseException:
                    self._acked.add(stream)  # the next trim tries it again
                    raise
        return removed

    async def adopt(self, sink: str) -> int:
        """Take every entry of ``sink`` pending with another consumer (``Outbox.adopt``)."""
        taken = 0
        for stream in self.streams(sink):
            start = "0-0"
            while True:
                reply: Any = await self._redis.xautoclaim(  # (redis-py's justid drops the cursor)
                    stream, sink, self._consumer, 0, start, count=500
                )
                taken += len(reply[1])
                self.claimed(sink, reply)
                start = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                if start == "0-0":
                    break
            await self._forget_idle(keys=[stream], args=[sink, self._consumer])
        self.reopen(sink)
        return taken

    async def strays(self, sink: str) -> int:
        """How many of ``sink``'s entries another consumer holds (``Outbox.strays``)."""
        count = 0
        for stream in self.streams(sink):
            try:
                summary: Any = await self._redis.xpending(stream, sink)
            except ResponseError:  # no stream or group yet: nothing is pending
                continue
            count += sum(
                int(consumer["pending"])
                for consumer in summary["consumers"]
                if consumer["name"] not in (self._consumer, self._consumer.encode())
            )
        return count


def _by_stream(entries: Sequence[OutboxEntry]) -> dict[str, list[Any]]:
    """Entry ids grouped by the stream that holds them."""
    grouped: dict[str, list[Any]] = {}
    for entry in entries:
        grouped.setdefault(entry.stream or keys.outbox(entry.source), []).append(entry.entry_id)
    return grouped
