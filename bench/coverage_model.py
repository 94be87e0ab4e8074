"""A simulated hour of an institution, read by the schedule or by a round-robin, on a virtual
clock: how long starts and ends take to be seen, and where the requests go.

The issue's scenario: 10,000 courses in three levels of accounts, 500 of them with a conference;
starts as a random process, 80 % in courses with a conference created at least 10 minutes
before, 20 % in courses that had none (created and started within a minute); 50 ms a request,
``rate_limit`` 20, ``poll_interval`` 30 s; discovery (100 pages) every 900 s. Courses follow the
simulator's institution (``monitor.simulator.builder``): 80 % available, 9 % unpublished, 9 %
completed (2 % deleted, never listed), in three terms of which one runs now, so about a quarter
of the listed courses are ones where students can take part now. Conferences happen there.

Both policies get the same budget (one request every ``1 / rate`` seconds, the lane) and the same
discovery cost; they differ only in what they read. The schedule is the real one
(``monitor.watch.schedule``) with the watch's tier rules; only Canvas is modelled.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from monitor.core.contexts import Context
from monitor.watch.schedule import Schedule, Tier

HOUR: Final = 3600.0
DAY: Final = 86400.0


@dataclass
class Plan:
    courses: int = 10_000
    with_conference: int = 500
    starts: int = 300  # in the hour
    waiting_share: float = 0.8
    rate: float = 20.0
    interval: float = 30.0
    discovery_every: float = 900.0
    discovery_pages: int = 100
    duration: tuple[float, float] = (1200.0, 3600.0)  # how long a conference runs
    seed: int = 14


@dataclass
class Conf:
    created: float
    started: float | None = None
    ended: float | None = None


@dataclass
class Course:
    active: bool  # students can take part now (published, in its dates)
    conferences: list[Conf] = field(default_factory=list)


@dataclass
class Outcome:
    latencies: dict[str, list[float]]
    requests: Counter[str]
    quiet_gaps: list[float]
    seconds: float

    def summary(self) -> dict[str, object]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

        kinds = {
            kind: {"n": len(v), "p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": max(v, default=0)}
            for kind, v in self.latencies.items()
        }
        per_second = {k: round(v / self.seconds, 3) for k, v in self.requests.items()}
        gaps = self.quiet_gaps
        sweep = {"p50": pct(gaps, 0.5), "p99": pct(gaps, 0.99)} if gaps else None
        return {"latency": kinds, "requests_per_second": per_second, "sweep_period": sweep}


def world(plan: Plan) -> tuple[list[Course], list[tuple[float, int, str]]]:
    """Courses, and the starts of the hour: (time, course, kind)."""
    rng = random.Random(plan.seed)
    courses = []
    for _ in range(plan.courses):
        state = rng.choices(("available", "unpublished", "completed", "deleted"), (80, 9, 9, 2))[0]
        term_now = rng.randint(1, 3) == 1
        if state != "deleted":
            courses.append(Course(active=state == "available" and term_now))
    active = [i for i, c in enumerate(courses) if c.active]
    hosts = rng.sample(active, plan.with_conference)
    for i in hosts:  # created days to minutes before the hour, not started yet
        courses[i].conferences.append(Conf(created=-rng.uniform(600.0, 14 * DAY)))
    bare = [i for i in active if not courses[i].conferences]
    starts = []
    for _ in range(plan.starts):
        moment = rng.uniform(0.0, HOUR)
        if rng.random() < plan.waiting_share:
            starts.append((moment, rng.choice(hosts), "waiting"))
        else:
            starts.append((moment, rng.choice(bare), "new"))
    return courses, sorted(starts)


def _tier(course: Course, now: float) -> Tier:
    live = waiting = False
    for conf in course.conferences:
        if conf.created > now:
            continue
        if conf.started is not None and conf.started <= now and (conf.ended or math.inf) > now:
            live = True
        elif conf.started is None or conf.started > now or conf.started >= now - DAY:
            waiting = True
    if live:
        return Tier.LIVE
    if waiting:
        return Tier.WAITING
    return Tier.QUIET if course.active else Tier.DORMANT


def _schedule_starts(
    plan: Plan, courses: list[Course], starts: list[tuple[float, int, str]]
) -> list[tuple[float, Conf, str]]:
    """Give each start its conference (a waiting one, or one created within the minute)."""
    rng = random.Random(plan.seed + 1)
    events = []
    for moment, index, kind in starts:
        course = courses[index]
        pending = [c for c in course.conferences if c.started is None and c.created <= moment]
        if kind == "new" or not pending:
            conf = Conf(created=moment - rng.uniform(0.0, 60.0))
            course.conferences.append(conf)
        else:
            conf = pending[0]
        conf.started = moment
        conf.ended = moment + rng.uniform(*plan.duration)
        events.append((moment, conf, kind))
    return events


class _Hour:
    """The lane's clock and what each read saw."""

    def __init__(self, plan: Plan, courses: list[Course], policy: str) -> None:
        self.plan, self.courses, self.policy = plan, courses, policy
        self.now, self.slot = 0.0, 1.0 / plan.rate
        self.requests: Counter[str] = Counter()
        self.seen_start: dict[int, float] = {}
        self.seen_end: dict[int, float] = {}
        self.last_read: dict[int, float] = {}
        self.quiet_gaps: list[float] = []
        self.discovery_left, self.next_discovery = 0, 0.0
        self.schedule = Schedule(plan.interval)
        tiers = [_tier(course, 0.0) for course in courses]
        self.schedule.tune(plan.rate, Counter(tiers))
        for i, tier in enumerate(tiers):
            self.schedule.watch(("Course", i), tier, 0.0)
        self.schedule.watch(("LiveList", 0), Tier.PINNED, 0.0)

    def request(self, purpose: str) -> None:
        """One request on the lane; discovery, while due, takes every other one."""
        if self.now >= self.next_discovery:
            self.discovery_left = self.plan.discovery_pages
            self.next_discovery += self.plan.discovery_every
        if self.discovery_left:
            self.discovery_left -= 1
            self.requests["discovery"] += 1
            self.now += self.slot
        self.requests[purpose] += 1
        self.now += self.slot

    def picks(self, robin: int, per_step: int) -> list[Context]:
        if self.policy == "round_robin":
            return [("Course", (robin + k) % len(self.courses)) for k in range(per_step)]
        return self.schedule.take(self.now, per_step)

    def read(self, context: Context) -> None:
        if context[0] == "LiveList":
            self.request("live_list")
            self.schedule.settle(context, self.now)
            return
        index = context[1]
        course = self.courses[index]
        tier = self.schedule.tier(context) if self.policy == "schedule" else Tier.QUIET
        tier = tier if tier is not None else Tier.QUIET
        self.request(tier.name.lower())
        for conf in course.conferences:
            if conf.started is not None and conf.started <= self.now:
                self.seen_start.setdefault(id(conf), self.now)
            if conf.ended is not None and conf.ended <= self.now:
                self.seen_end.setdefault(id(conf), self.now)
        if tier.swept and index in self.last_read:
            self.quiet_gaps.append(self.now - self.last_read[index])
        self.last_read[index] = self.now
        if self.policy == "schedule":
            self.schedule.settle(context, self.now, _tier(course, self.now))


def run(plan: Plan, policy: str) -> Outcome:
    """One simulated hour under ``policy`` (``schedule`` or ``round_robin``)."""
    courses, starts = world(plan)
    events = _schedule_starts(plan, courses, starts)
    hour = _Hour(plan, courses, policy)
    per_step, robin, tuned = max(1, round(plan.rate)), 0, 0.0
    while hour.now < HOUR:
        if policy == "schedule" and hour.now - tuned >= plan.interval:  # as the watch does
            hour.schedule.tune(plan.rate)
            tuned = hour.now
        picks = hour.picks(robin, per_step)
        robin = (robin + per_step) % len(courses)
        if not picks:
            due = hour.schedule.next_due()
            hour.now = max(hour.now + hour.slot, due if due is not None else 0.0)
            continue
        for context in picks:
            hour.read(context)
    latencies: dict[str, list[float]] = {"waiting": [], "new": [], "end": []}
    for moment, conf, kind in events:
        seen = hour.seen_start.get(id(conf))
        if seen is not None:
            latencies[kind].append(seen - moment)
        end = hour.seen_end.get(id(conf))
        if seen is not None and end is not None and conf.ended is not None and seen < conf.ended:
            latencies["end"].append(end - conf.ended)  # ends of conferences seen live
    return Outcome(latencies, hour.requests, hour.quiet_gaps, HOUR)
