"""One row per figure: what was measured, against which target, and whether it holds.

Rows are plain data so ``run`` can print them as a table and write them as JSON alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    figure: str  # the measured value, formatted for a person
    target: str  # the target, or "" for context figures
    passed: bool | None  # None: a figure for context, judged by no target
    value: float | None = None  # the measured value, for machines
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: ""}[self.passed]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def render(rows: Iterable[Row]) -> str:
    rows = list(rows)
    widths = [
        max(len(header), *(len(text) for text in column))
        for header, column in (
            ("scenario", [r.scenario for r in rows]),
            ("figure", [r.figure for r in rows]),
            ("target", [r.target for r in rows]),
        )
    ]
    lines = [f"{'scenario':<{widths[0]}}  {'figure':>{widths[1]}}  {'target':<{widths[2]}}  result"]
    lines.append("-" * len(lines[0]))
    lines += [
        f"{r.scenario:<{widths[0]}}  {r.figure:>{widths[1]}}  {r.target:<{widths[2]}}  {r.verdict}"
        for r in rows
    ]
    return "\n".join(lines)
