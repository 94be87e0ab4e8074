"""``Timings``: production's waits, in one value, and the test switch that only shortens them."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.core.timings import PRODUCTION, Timings

#: What the service waited before the waits were one value (and what docs/ and alerts assume).
BEFORE = {
    "store_retry": 1.0,
    "read_wait": 5.0,
    "keep_every": 15.0,
    "adopt_margin": 2.0,
    "watch_every": 1.0,
    "ack_gather": 0.02,
    "measure_every": 60.0,
    "housekeeping_every": 5.0,
    "trim_every": 60.0,
    "runner_silence": 60.0,
    "claim_idle": 60.0,
    "claim_every": 240.0,
    "backoff_base": 0.5,
    "backoff_cap": 10.0,
    "canvas_outflow": 10.0,
    "prune_every": 3600.0,
    "stream_heartbeat": 15.0,  # added with the event stream (docs/api.md says 15 s)
}


def test_production_waits_what_it_waited_before() -> None:
    assert dataclasses.asdict(PRODUCTION) == BEFORE
    assert Timings() == PRODUCTION
    assert PRODUCTION.adopt_after == 7.0  # a former holder's last read has ended by then


def test_the_test_timings_only_shorten_waits() -> None:
    quick = dataclasses.asdict(Timings.for_tests())
    assert all(quick[name] <= BEFORE[name] for name in BEFORE)
    assert quick["read_wait"] < 0.1  # a stop is noticed at once
    assert quick["measure_every"] == BEFORE["measure_every"]  # what idle-cost tests count


def test_a_test_about_one_wait_sets_it() -> None:
    timings = Timings.for_tests(read_wait=5.0)
    assert timings.read_wait == 5.0
    assert timings.store_retry == Timings.for_tests().store_retry
    with pytest.raises(TypeError):
        Timings.for_tests(no_such_wait=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timings.read_wait = 1.0  # type: ignore[misc]
