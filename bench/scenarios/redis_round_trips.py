"""Redis round trips and bytes per poll, counted on the wire by a proxy: an idle poll must cost
at most one round trip whatever N, a changed one at most three, and the bytes must follow what
changed, not how many conferences are live (judged by comparing the largest N with the smallest).
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.polls import PollCost
from bench.table import Row


def rows(costs: Sequence[PollCost]) -> list[Row]:
    out = []
    for cost in costs:
        if cost.kind == "first":
            out.append(
                Row(
                    f"Redis first (baseline) poll, N={cost.n:,}",
                    f"{cost.round_trips} trips, {cost.bytes_moved / 1024:,.1f} kB",
                    "",
                    None,
                    cost.round_trips,
                    cost.as_json(),
                )
            )
            continue
        limit = 1 if cost.kind == "idle" else 3
        out.append(
            Row(
                f"Redis round trips/poll, N={cost.n:,}, {cost.kind}",
                f"{cost.round_trips} ({cost.bytes_moved:,} B)",
                f"<= {limit}",
                cost.round_trips <= limit,
                cost.round_trips,
                cost.as_json(),
            )
        )
    changed = sorted((c for c in costs if c.kind == "changed"), key=lambda c: c.n)
    if len(changed) >= 2:
        small, large = changed[0], changed[-1]
        growth = large.bytes_moved / max(1, small.bytes_moved)
        out.append(
            Row(
                f"Redis bytes of a changed poll, N={large.n:,} vs N={small.n:,}",
                f"{growth:.2f}x",
                "<= 1.5x (not ∝ N)",
                growth <= 1.5,
                growth,
                {"small": small.as_json(), "large": large.as_json()},
            )
        )
    return out
