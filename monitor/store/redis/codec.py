"""How state, tombstones and outbox entries are written in Redis, and read back.

Kept apart from the store so the format is in one place: JSON for state values (compact keys,
the Canvas object verbatim), stream fields for outbox entries, and the one JSON argument of the
commit script.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from monitor.core.diff import Outcome
from monitor.core.models import Conference, Phase, Tombstone, Tracked
from monitor.store.redis import keys
from monitor.store.values import Fence, OutboxEntry


def commit_args(version: int, outcome: Outcome, sinks: list[str], fence: Fence | None) -> list[str]:
    """ARGV for ``scripts.COMMIT``: one JSON object with the delta of ``outcome``, its events
    and the fence (the script reads it with ``cjson.decode``). Stored texts (state entries,
    event bodies) go in as JSON strings, so Redis receives them byte for byte."""
    state, delta = outcome.state, outcome.delta
    tracked, tombstones = state.tracked, state.tombstones
    commit = {
        "version": version,
        "baselined": state.baselined,
        "track": {str(i): encode_tracked(tracked[i]) for i in delta.tracked if i in tracked},
        "untrack": [str(i) for i in delta.tracked if i not in tracked],
        "bury": {
            str(i): encode_tombstone(tombstones[i]) for i in delta.tombstones if i in tombstones
        },
        "unbury": [str(i) for i in delta.tombstones if i not in tombstones],
        "events": [[e.id, e.type.value, e.key, e.body().decode()] for e in outcome.events],
        "sinks": sinks,
        "replica": "" if fence is None else fence.replica,
        "token": "" if fence is None else str(fence.token),
    }
    return [json.dumps(commit, separators=(",", ":"), ensure_ascii=False)]


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
