"""Canvas requests per poll: the token's throttle is shared with every other integration, so a
poll must ask for no more than one page per 100 live conferences, plus a confirmation only for
conferences that disappeared, one listing per course or group however many it lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.polls import PollCost
from bench.table import Row


def rows(costs: Sequence[PollCost]) -> list[Row]:
    out = []
    for cost in costs:
        if cost.kind == "first":
            continue
        what = "idle" if cost.kind == "idle" else "1 started, 3 ended in 2 courses"
        target = "= ⌈N/100⌉" if cost.kind == "idle" else "= ⌈N/100⌉ + 2 confirmations + 2 names"
        out.append(
            Row(
                f"Canvas requests/poll, N={cost.n:,}, {what}",
                str(cost.canvas_requests),
                f"{target} = {cost.canvas_floor}",
                cost.canvas_requests == cost.canvas_floor,
                cost.canvas_requests,
                cost.as_json(),
            )
        )
    return out
