"""What the console shows of a source's watch: how its contexts are spread over the tiers,
how long a sweep takes to come round, how many courses discovery found, and how much of the
token's budget is used. Read from the running watch, never from the store."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.watch.schedule import Tier
from monitor.watch.watch import Watch


@dataclass(frozen=True, slots=True)
class WatchSummary:
    tiers: dict[str, int]  # "live", "pinned", "waiting", "quiet", "dormant" -> contexts
    sweep_period: float | None  # seconds; None until a context was swept twice
    discovered_courses: int | None  # None until a discovery completed (or without accounts)
    requests_per_second: float | None  # over the last minute, on the source's token
    rate_limit: float  # the token's budget, requests per second


def summarize(watch: Watch, requests_per_second: float | None) -> WatchSummary:
    counts = watch.schedule.counts()
    tiers = {tier.name.lower(): counts.get(tier, 0) for tier in Tier}
    directory = watch.discovery.directory
    return WatchSummary(
        tiers=tiers,
        sweep_period=watch.sweep_period,
        discovered_courses=None if directory is None else len(directory.courses),
        requests_per_second=requests_per_second,
        rate_limit=watch.source.rate_limit,
    )
