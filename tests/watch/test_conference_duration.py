"""The conference duration histogram: observed once per end Canvas confirmed with ended_at."""

from __future__ import annotations

from monitor.store.memory import MemoryStore
from tests.support.canvas_helpers import poller_rig, sample, start_live

NAME = "conference_monitor_conference_duration_seconds"


async def test_a_confirmed_end_observes_how_long_the_conference_ran() -> None:
    async with poller_rig(MemoryStore()) as rig:
        assert await rig.poll()  # baseline
        (first, second) = start_live(rig.sim, 2)
        assert await rig.poll()
        rig.clock.advance(minutes=42)
        rig.world.end(first)  # Canvas sets ended_at: 42 minutes after started_at
        rig.world.remove_participant(second, 1)  # out of scope: no end time, no duration
        assert await rig.poll()
        labels = {"source": "main", "conference_type": "BigBlueButton"}
        assert sample(rig.metrics, f"{NAME}_count", **labels) == 1
        assert sample(rig.metrics, f"{NAME}_sum", **labels) == 42 * 60
        assert sample(rig.metrics, f"{NAME}_bucket", le="2700.0", **labels) == 1
        assert sample(rig.metrics, f"{NAME}_bucket", le="1800.0", **labels) == 0


async def test_the_histogram_exists_before_any_end() -> None:
    """From the poll that first sees a conference of a type live, so the first end of that type
    counts in ``increase``; types a source never had cost no series."""
    async with poller_rig(MemoryStore()) as rig:
        labels = {"source": "main", "conference_type": "BigBlueButton"}
        assert await rig.poll()  # baseline, nothing live
        assert sample(rig.metrics, f"{NAME}_count", **labels) is None
        start_live(rig.sim, 1)
        assert await rig.poll()
        assert sample(rig.metrics, f"{NAME}_count", **labels) == 0
        assert sample(rig.metrics, f"{NAME}_count", source="main", conference_type="Zoom") is None
