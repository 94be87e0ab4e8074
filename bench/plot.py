"""The cost curves of a bench run as one PNG, for ``docs/performance.md``: CPU per idle poll
and Redis bytes per poll against N, both on log scales."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]


def plot(figures: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(10, 4))
    cpu, wire = fig.subplots(1, 2)
    processing = figures.get("processing", [])
    if processing:
        ns = [p["n"] for p in processing]
        cpu.loglog(ns, [p["cpu_s"]["idle_poll"] * 1e3 for p in processing], "o-", label="idle poll")
        cpu.loglog(
            ns, [p["cpu_s"]["json_loads"] * 1e3 for p in processing], "s--", label="json.loads"
        )
        cpu.set(xlabel="live conferences N", ylabel="CPU ms per poll", title="Processing cost")
        cpu.legend()
    polls = figures.get("polls", [])
    for kind, style in (("first", "o-"), ("changed", "s-")):
        rows = [p for p in polls if p["kind"] == kind]
        if rows:
            wire.loglog([p["n"] for p in rows], [p["bytes_moved"] for p in rows], style, label=kind)
    wire.set(xlabel="live conferences N", ylabel="Redis bytes per poll", title="Redis traffic")
    wire.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
