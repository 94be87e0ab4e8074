"""Redis commands per idle poll, from ``INFO commandstats`` while the real service runs: every
loop counts (polls, lease heartbeats and acquisitions, the dispatcher's blocking reads, the
housekeeping gauges), and so does every command a Lua script runs. Redis is shared with the rest
of a cluster, so an idle monitor must cost at most 2 commands per poll on average, whether it
watches one source or a thousand.
"""

from __future__ import annotations

from typing import Any

from bench.table import Row

TARGET = 2.0


def rows(results: list[dict[str, Any]]) -> list[Row]:
    out = []
    for result in results:
        per_poll = result["redis_commands_per_poll"]
        top = ", ".join(
            f"{name} {count / max(1.0, result['polls']):.2f}"
            for name, count in list(result["redis_commands_by_name"].items())[:4]
        )
        out.append(
            Row(
                f"Redis commands/idle poll, {result['sources']:,} sources, "
                f"{result['interval_s']:g} s",
                f"{per_poll:.2f}",
                f"<= {TARGET:g}",
                per_poll <= TARGET,
                per_poll,
                {"per_poll_by_command": top, **result},
            )
        )
    return out
