"""How state, tombstones and outbox entries are written in Redis, and read back.

Kept apart from the store so the format is in one place: JSON for state values (compact keys,
the Canvas object verbatim), stream fields for outbox entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from monitor.core.diff import Outcome
from monitor.core.models import Conference, Phase, Tombstone, Tracked
from monitor.store.redis import keys
from monitor.store.values import Fence, OutboxEntry

V = TypeVar("V")


def commit_args(version: int, outcome: Outcome, sinks: list[str], fence: Fence | None) -> list[Any]:
    """ARGV for ``scripts.COMMIT``: the delta of ``outcome``, its events, the fence."""
    state, delta = outcome.state, outcome.delta
    args: list[Any] = [version, "1" if state.baselined else "0"]
    _section(args, delta.tracked, state.tracked, encode_tracked)
    _section(args, delta.tombstones, state.tombstones, encode_tombstone)
    args.append(len(outcome.events))
    for event in outcome.events:
        args.extend((event.id, event.type.value, event.key, event.body()))
    args.append(len(sinks))
    args.extend(sinks)
    args.extend(("", "") if fence is None else (fence.replica, fence.token))
    return args


def _section(
    args: list[Any], ids: frozenset[int], present: Mapping[int, V], encode: Callable[[V], str]
) -> None:
    """Two sections: the ids to write (with their values), then the ids to delete."""
    upserts = [(cid, present[cid]) for cid in ids if cid in present]
    args.append(len(upserts))
    for cid, value in upserts:
        args.extend((cid, encode(value)))
    deletes = [cid for cid in ids if cid not in present]
    args.append(len(deletes))
    args.extend(deletes)


def encode_tracked(tracked: Tracked) -> str:
    # The conference's JSON text goes in as it is: no parsing, no encoding again.
    rest = {"g": tracked.generation, "p": tracked.phase.value, "m": tracked.misses}
    return f'{{"c":{tracked.conference.data.decode()},{json.dumps(rest, separators=(",", ":"))[1:]}'


def decode_tracked(blob: bytes) -> Tracked:
    data = json.loads(blob)
    conference = Conference.from_api(data["c"])
    if conference is None:
        raise ValueError("stored conference without an id")
    return Tracked(conference, int(data["g"]), Phase(data["p"]), int(data["m"]))


def encode_tombstone(tomb: Tombstone) -> str:
    started = None if tomb.started_at is None else tomb.started_at.isoformat()
    return json.dumps({"g": tomb.generation, "e": tomb.ended.isoformat(), "s": started})


def decode_tombstone(blob: bytes) -> Tombstone:
    data = json.loads(blob)
    started = None if data.get("s") is None else datetime.fromisoformat(data["s"])
    return Tombstone(int(data["g"]), datetime.fromisoformat(data["e"]), started)


def decode_entry(stream: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> OutboxEntry:
    """An entry of an outbox (or of a sink's replay stream, which names its source);
    ``KeyError`` or ``UnicodeDecodeError`` when it is not ours."""
    source = fields[b"source"].decode() if b"source" in fields else keys.source_of_outbox(stream)
    return OutboxEntry(
        entry_id=entry_id.decode(),
        source=source,
        event_id=fields[b"id"].decode(),
        type=fields[b"type"].decode(),
        key=fields[b"key"].decode(),
        body=fields[b"body"],
        stream=stream,
    )
