"""Every wait the service chooses for itself, as one value: ``Timings``.

Built once where the service is wired (``app.serve``) and handed to what waits on it; each part
takes ``PRODUCTION`` (``Timings()``) by default. Tests pass ``Timings.for_tests()``, which
removes the waits no test is about (a stop noticed at once, a failed store or Canvas request
asked again in milliseconds); a test about one wait passes that wait explicitly
(``Timings.for_tests(read_wait=5.0)``, or ``dataclasses.replace``). This replaces
monkeypatching module constants, after stamina's ``set_testing()``, without a global switch.

What is configured is not here: ``poll_interval``, ``lease_ttl``, ``shutdown_timeout``, a sink's
``retry_schedule`` and ``group_wait`` are settings (``config.settings``). Neither are the Redis
client's socket limits (``store.redis.client``), which belong with the connection they bound.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """Seconds, all of them."""

    store_retry: float = 1.0
    """Before asking a store that failed again: outbox reads and writes, adopting a sink's
    entries, the lease check, the name claim, opening the outbox at start."""

    read_wait: float = 5.0
    """Longest an outbox read blocks in the store. An idle sink costs one read per
    ``read_wait`` (Redis: one XREADGROUP), so it is as long as the Redis client allows
    (``BLOCK_SLICE``); a new entry ends the wait at once, and a stop cancels the read."""

    keep_every: float = 15.0
    """Between a runner's reminders to the store that the entries it holds are still its own
    (well inside ``claim_idle``), and its looks at whether a disabled sink was enabled again."""

    adopt_margin: float = 2.0
    """Added to ``read_wait``: ``adopt_after``."""

    watch_every: float = 1.0
    """Between a sink runner's looks at its lease: how soon it notices the lease went away."""

    ack_gather: float = 0.02
    """Acknowledgements gather this long before they go out together, in one round trip."""

    measure_every: float = 60.0
    """Between measurements of a sink's backlog and dead letters in the store, when nothing
    cheaper knows them (``delivery.backlog``)."""

    housekeeping_every: float = 5.0
    """Between rounds of housekeeping: the outbox gauges (local, mostly) and trimming."""

    trim_every: float = 60.0
    """Between trims of acknowledged outbox entries."""

    runner_silence: float = 60.0
    """A sink's read loop silent this long is reported stuck (``/healthz``)."""

    claim_idle: float = 60.0
    """How long an entry may sit with a silent consumer before another takes it (Redis)."""

    claim_every: float = 240.0
    """Between looks for such entries (one XAUTOCLAIM per stream): the safety net behind the
    adoption at a handover, so a stray is delivered within ``claim_idle + claim_every``."""

    backoff_base: float = 0.5
    """Canvas: the first retry of a transient failure waits up to ``2 * backoff_base`` (full
    jitter, doubling per attempt)."""

    backoff_cap: float = 10.0
    """Canvas: the longest backoff between two attempts of one request."""

    canvas_outflow: float = 10.0
    """Canvas's default outflow, units per second its bucket drains: how long the courtesy
    pause after a low ``X-Rate-Limit-Remaining`` waits (``canvas.lane``)."""

    prune_every: float = 3600.0
    """Between prunes of a source's old tombstones (they ride along on a poll's commit)."""

    stream_heartbeat: float = 15.0
    """Between ``: ping`` comments on an idle ``/api/v1/events/stream``: proxies keep the
    connection, and a client that went away is noticed within it."""

    @property
    def adopt_after(self) -> float:
        """After taking a sink's lease, when every entry a former holder could still read
        exists: its last read was sent before the lease moved, and blocks ``read_wait`` at
        most (``delivery.supervise``)."""
        return self.read_wait + self.adopt_margin

    @classmethod
    def for_tests(cls, **changes: float) -> Timings:
        """Production's timings without the waits a test is not about: reads that notice a
        stop at once, a store or a Canvas request asked again within milliseconds, and
        housekeeping every 0.1 s. A test about one of them passes it in ``changes``."""
        quick = cls(read_wait=0.05, store_retry=0.01, backoff_base=0.002, housekeeping_every=0.1)
        return dataclasses.replace(quick, **changes)


#: The defaults: what every part waits when not told otherwise.
PRODUCTION: Final = Timings()
