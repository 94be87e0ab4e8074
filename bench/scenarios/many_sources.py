"""Many sources: 1,000 sources with 20 live conferences each, Canvas answering in 50 ms, polled
every 30 s by the real service in a process of its own. A campus-wide deployment looks like
this; it must poll every source every interval and stay within 2 % of one core and 100 MB.
"""

from __future__ import annotations

from typing import Any

from bench.table import Row

CPU_SHARE = 0.02
RSS = 100 * 1024 * 1024


def rows(result: dict[str, Any]) -> list[Row]:
    where = (
        f"{result['sources']:,} sources x {result['live_per_source']}, {result['interval_s']:g} s"
    )
    every = (
        result["fewest_polls_of_a_source"] >= result["intervals"] and not result["poll_failures"]
    )
    return [
        Row(
            f"many sources ({where}): polled every interval",
            f"{result['fewest_polls_of_a_source']:g}/{result['intervals']} polls, "
            f"{result['poll_failures']:g} failed",
            "every source, every interval",
            every,
            result["fewest_polls_of_a_source"],
            result,
        ),
        Row(
            f"many sources ({where}): CPU",
            f"{result['cpu_share']:.2%} of a core",
            f"<= {CPU_SHARE:.0%}",
            result["cpu_share"] <= CPU_SHARE,
            result["cpu_share"],
        ),
        Row(
            f"many sources ({where}): peak RSS",
            f"{result['peak_rss'] / 2**20:.0f} MB",
            f"<= {RSS / 2**20:.0f} MB",
            result["peak_rss"] <= RSS,
            result["peak_rss"],
        ),
        Row(
            f"many sources ({where}): a Prometheus scrape (OpenMetrics, gzip)",
            f"{result['longest_scrape_s'] * 1000:.0f} ms at most, "
            f"{result['scrape_bytes'] / 1e6:.2f} MB; {result['scrapes']:g} counted above",
            "",
            None,
            result["longest_scrape_s"],
        ),
        Row(
            f"many sources ({where}): first polls failed at start-up",
            f"{result['startup_poll_failures']:g} failed; "
            f"{result['baselined_before_measuring']:,} of {result['sources']:,} baselined",
            "",
            None,
            result["startup_poll_failures"],
        ),
    ]
