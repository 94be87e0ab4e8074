"""The schedule: unit cases for each rule, and properties on a virtual clock.

The simulation stands in for the token's lane: one read at a time, ``1 / rate`` seconds each,
``take`` asked for about a second's worth of reads per step, as the watch does.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.contexts import Context
from monitor.watch.schedule import Schedule, Tier

P = 30.0


def course(n: int) -> Context:
    return ("Course", n)


def test_a_new_context_is_due_at_once_and_then_after_one_interval() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.QUIET, 0.0)
    assert schedule.take(0.0, 10) == [course(1)]
    assert schedule.take(0.0, 10) == []  # taken, not settled: not handed out twice
    schedule.settle(course(1), 1.0)
    assert schedule.take(30.0, 10) == []
    assert schedule.take(31.0, 10) == [course(1)]


def test_higher_tiers_go_first_whatever_their_due_time() -> None:
    schedule = Schedule(P)
    for n, tier in ((1, Tier.QUIET), (2, Tier.WAITING), (3, Tier.LIVE), (4, Tier.PINNED)):
        schedule.watch(course(n), tier, float(n))
    assert schedule.take(10.0, 10) == [course(3), course(4), course(2), course(1)]
    assert schedule.take(10.0, 10) == []


def test_a_hint_goes_ahead_of_everything_even_when_not_due() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.LIVE, 0.0)
    schedule.watch(course(2), Tier.QUIET, 0.0)
    for context in schedule.take(0.0, 10):
        schedule.settle(context, 0.0)
    schedule.hint(course(2))
    schedule.hint(("Course", 99))  # not watched: ignored
    assert schedule.next_due() == float("-inf")
    assert schedule.take(5.0, 10) == [course(2)]
    schedule.settle(course(2), 5.0, Tier.LIVE)
    assert schedule.take(34.0, 10) == [course(1)]  # its new beat starts from the hinted read
    schedule.settle(course(1), 34.0)
    assert schedule.take(35.0, 10) == [course(2)]


def test_beats_keep_their_phase_and_skip_overrun_ones() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.PINNED, 0.0)
    assert schedule.take(0.0, 1) == [course(1)]
    schedule.settle(course(1), 2.5)  # the read took a while: the beat stays at 30, 60, ...
    assert schedule.next_due() == 30.0
    assert schedule.take(30.0, 1) == [course(1)]
    schedule.settle(course(1), 95.0)  # a long stall: 60 and 90 are skipped, not bunched
    assert schedule.next_due() == 120.0


def test_moving_up_makes_a_context_due_within_the_new_period() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.DORMANT, 0.0)
    schedule.take(0.0, 1)
    schedule.settle(course(1), 0.0)
    assert schedule.next_due() == 3600.0
    schedule.watch(course(1), Tier.WAITING, 10.0)
    assert schedule.next_due() == 30.0


def test_a_deferred_context_is_due_again_when_asked() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.QUIET, 0.0)
    schedule.take(0.0, 1)
    schedule.defer(course(1), 7.0)
    assert schedule.take(6.0, 1) == []
    assert schedule.take(7.0, 1) == [course(1)]


def test_forgotten_contexts_are_never_handed_out() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.QUIET, 0.0)
    schedule.hint(course(1))
    schedule.forget(course(1))
    assert schedule.take(100.0, 10) == []
    assert schedule.next_due() is None
    assert len(schedule) == 0


def test_counts_and_oldest_read() -> None:
    schedule = Schedule(P)
    schedule.watch(course(1), Tier.LIVE, 0.0)
    schedule.watch(course(2), Tier.QUIET, 0.0)
    schedule.watch(course(3), Tier.QUIET, 0.0)
    assert schedule.counts() == {Tier.LIVE: 1, Tier.QUIET: 2}
    for context in schedule.take(0.0, 2):
        schedule.settle(context, 1.0)
    assert schedule.oldest_read(11.0) == 11.0  # course 3: waiting since it was added
    assert schedule.oldest_read(11.0, Tier.LIVE) == 10.0


def run(
    schedule: Schedule, rate: float, until: float, *, start: float = 0.0
) -> dict[Context, list[float]]:
    """Drive the schedule like the watch: one read per ``1/rate`` s, a second's worth a step."""
    reads: dict[Context, list[float]] = defaultdict(list)
    now = start
    per_step = max(1, math.ceil(rate))
    while now < until:
        taken = schedule.take(now, per_step)
        if not taken:
            due = schedule.next_due()
            now = until if due is None else max(now + 1e-3, min(due, until))
            continue
        for context in taken:
            now += 1.0 / rate
            reads[context].append(now)
            schedule.settle(context, now)
    return reads


def gaps(times: list[float], start: float, end: float) -> float:
    points = [start, *times, end]
    return max(b - a for a, b in itertools.pairwise(points))


tiers = st.lists(
    st.sampled_from([Tier.LIVE, Tier.PINNED, Tier.WAITING, Tier.QUIET, Tier.DORMANT]),
    min_size=1,
    max_size=400,
)


@settings(max_examples=60, deadline=None)
@given(tiers=tiers, rate=st.sampled_from([2.0, 5.0, 20.0]))
def test_budget_live_never_starved_and_every_context_read_within_its_sweep_period(
    tiers: list[Tier], rate: float
) -> None:
    schedule = Schedule(P, dormant_every=600.0)
    for n, tier in enumerate(tiers):
        schedule.watch(course(n), tier, 0.0)
    beats = sum(1 for t in tiers if not t.swept)
    swept = len(tiers) - beats
    hour = 3600.0
    reads = run(schedule, rate, hour)
    # The budget: never more reads in any second than the lane allows (the lane's pacing,
    # kept by the simulation), and never idle while something is due (work-conserving).
    every = sorted(t for times in reads.values() for t in times)
    for a, b in itertools.pairwise(every):
        assert b - a >= 1.0 / rate - 1e-9
    step = math.ceil(rate) / rate  # one step's worth of reads
    if beats / P <= rate * 0.9:  # the beats fit in the budget
        for n, tier in enumerate(tiers):
            if not tier.swept:  # live, pinned, waiting: every interval, give or take a step
                assert gaps(reads[course(n)], 0.0, hour) <= P + beats / rate + step + 1e-6
        # Every swept context within the sweep period the leftover budget makes.
        leftover = rate - beats / P
        quiet = sum(1 for t in tiers if t is Tier.QUIET)
        period = max(P, swept / leftover) + beats / rate + step
        for n, tier in enumerate(tiers):
            if tier is Tier.QUIET:
                assert gaps(reads[course(n)], 0.0, hour) <= period + 1e-6, (quiet, period)
            if tier is Tier.DORMANT:
                limit = max(schedule.dormant_every, swept / leftover) + period
                assert gaps(reads[course(n)], 0.0, hour) <= limit + 1e-6
    else:  # overloaded: the higher tiers still come first
        assert all(reads[course(n)] for n, t in enumerate(tiers) if t is Tier.LIVE)


def test_a_course_hinted_in_a_saturated_sweep_is_read_within_a_step() -> None:
    schedule = Schedule(P)
    for n in range(10_000):
        schedule.watch(course(n), Tier.QUIET, 0.0)
    run(schedule, 20.0, 120.0)
    schedule.hint(course(9_999))
    assert schedule.take(120.0, 20)[0] == course(9_999)


def test_the_sweep_uses_every_read_the_beats_leave() -> None:
    """500 courses on a beat and 9,500 quiet at 20 reads a second: the sweep gets the rest."""
    schedule = Schedule(P)
    for n in range(500):
        schedule.watch(course(n), Tier.WAITING, 0.0)
    for n in range(500, 10_000):
        schedule.watch(course(n), Tier.QUIET, 0.0)
    reads = run(schedule, 20.0, 1800.0)
    swept = sum(len(t) for c, t in reads.items() if c[1] >= 500)
    beats = sum(len(t) for c, t in reads.items() if c[1] < 500)
    assert swept + beats >= 20.0 * 1800.0 * 0.99  # the lane never idles
    assert swept >= (20.0 * 1800.0 - 500 * 1800.0 / P) * 0.9


def test_many_waiting_courses_never_starve_the_sweep() -> None:
    """2,000 waiting and 8,000 quiet at 20 reads a second: a quarter still goes to the sweep."""
    schedule = Schedule(P)
    for n in range(2_000):
        schedule.watch(course(n), Tier.WAITING, 0.0)
    for n in range(2_000, 10_000):
        schedule.watch(course(n), Tier.QUIET, 0.0)
    schedule.tune(20.0)
    assert schedule.waiting_every > 1.7 * P  # the waiting target gives way...
    reads = run(schedule, 20.0, 1800.0)
    swept = sum(len(t) for c, t in reads.items() if c[1] >= 2_000)
    assert swept >= 0.24 * 20.0 * 1800.0  # ...to the sweep's quarter


def test_a_few_waiting_courses_are_read_every_interval() -> None:
    schedule = Schedule(P)
    for n in range(50):
        schedule.watch(course(n), Tier.WAITING, 0.0)
    schedule.tune(20.0)
    assert schedule.waiting_every == P
