"""Every Redis key the monitor uses, in one place.

Keys of one source share the hash tag ``{source}``, so the atomic commit (state, tombstones,
meta, outbox) stays inside one Redis Cluster slot. Source names are ``[a-z0-9_-]+``, so they
cannot contain the braces that would break the tag.
"""

from __future__ import annotations

from typing import Final

from monitor.core.lease_name import LeaseName

PREFIX: Final = "ccm"


def meta(source: str) -> str:
    """Hash: ``version`` (the commit counter) and ``baselined``."""
    return f"{PREFIX}:{{{source}}}:meta"


def tracked(source: str) -> str:
    """Hash: conference id -> what we track of a live (or ending) conference."""
    return f"{PREFIX}:{{{source}}}:tracked"


def tombstones(source: str) -> str:
    """Hash: conference id -> the generation of an ended conference."""
    return f"{PREFIX}:{{{source}}}:ended"


def baseline(source: str) -> str:
    """String: when the source was first watched (ISO 8601): its baseline by time."""
    return f"{PREFIX}:{{{source}}}:baseline"


def directory(source: str) -> str:
    """String: the last complete discovery of the source's accounts (the watch's JSON)."""
    return f"{PREFIX}:{{{source}}}:directory"


def contexts(source: str) -> str:
    """Hash: ``Course:101`` -> what the watch noted of that context (read once; its tier)."""
    return f"{PREFIX}:{{{source}}}:contexts"


def outbox(source: str) -> str:
    """Stream of committed events; each sink is a consumer group on it."""
    return f"{PREFIX}:{{{source}}}:outbox"


def history() -> str:
    """Stream: the recent events of every source, for people (``store.redis.history``)."""
    return f"{PREFIX}:{{history}}:events"


def history_ids() -> str:
    """Hash: event id -> the stream id of its newest entry in ``history()`` (same slot)."""
    return f"{PREFIX}:{{history}}:ids"


def lease(name: str) -> str:
    """String: who works on a source (``main``) or sink (``sink:ops``): ``<replica>@<epoch>``,
    valid while that epoch is alive in ``replicas()``. ``name`` is a ``LeaseName.key``.

    A source's lease shares its hash tag with its state, so the commit can check it."""
    return f"{PREFIX}:{{{name}}}:lease"


def fence(name: str) -> str:
    """Counter: the fencing token, raised by every acquisition of the lease (``LeaseName.key``)."""
    return f"{PREFIX}:{{{name}}}:fence"


def replicas() -> str:
    """Sorted set: live replicas as ``<replica>@<epoch>``, scored by when their heartbeat
    expires."""
    return f"{PREFIX}:replicas"


def source_of_outbox(key: str) -> str:
    return key[key.index("{") + 1 : key.index("}")]


def is_replay(key: str) -> bool:
    return key.endswith(":replay")


# Per sink, under the hash tag of the sink's lease ({sink:<name>}): what its deliveries have
# been through.


def _sink(sink: str) -> str:
    return f"{PREFIX}:{{{LeaseName.sink(sink).key}}}"


def sink_retries(sink: str) -> str:
    """Hash: event id -> the retry state of a delivery that failed."""
    return f"{_sink(sink)}:retry"


def sink_dead(sink: str) -> str:
    """Hash: event id -> a dead letter (the entry, why, when)."""
    return f"{_sink(sink)}:dead"


def sink_replay(sink: str) -> str:
    """Stream of dead letters sent back for delivery; the sink reads it like an outbox."""
    return f"{_sink(sink)}:replay"


def sink_disabled(sink: str) -> str:
    """String: why the sink is disabled (absent while it is enabled)."""
    return f"{_sink(sink)}:disabled"
