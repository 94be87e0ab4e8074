"""The ``baseline`` log line: after ``listening``, one line per source says its first poll worked.

Once per source and process, after the first poll that completed (a failed one says
``poll_failed`` instead), with what a newcomer wants to know: how many conferences are live, how
many pages that took, how long. Later polls add nothing to the log unless something changes.
"""

from __future__ import annotations

import json
from typing import Any

from monitor.store.memory import MemoryStore
from tests.support.canvas_helpers import poller_rig, start_live
from tests.support.log_capture import captured_logs


def log_lines(text: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line for line in lines if line["event"] == event]


async def test_the_first_poll_logs_one_baseline_line() -> None:
    async with poller_rig(MemoryStore(), courses=(101,)) as rig:
        start_live(rig.sim, 3)
        with captured_logs("info") as logs:
            assert await rig.poll()
            for _ in range(3):
                assert await rig.poll()
        (line,) = log_lines(logs.getvalue(), "baseline")
    assert line["source"] == "main"
    assert line["live"] == 3
    assert line["pages"] == 2  # the live list and course 101's conferences, one page each
    assert 0 <= line["seconds"] < 2
    assert line["events"] == 0  # a baseline announces nothing (without announce_existing)
    assert line["level"] == "info"


async def test_a_failed_first_poll_logs_no_baseline_until_one_succeeds() -> None:
    async with poller_rig(MemoryStore()) as rig:
        start_live(rig.sim, 1)
        rig.sim.faults.add("bad_json", "/api/v1/conferences", times=1)
        with captured_logs("info") as logs:
            assert not await rig.poll()
            assert log_lines(logs.getvalue(), "baseline") == []
            assert await rig.poll()
            assert await rig.poll()
        (line,) = log_lines(logs.getvalue(), "baseline")
        assert log_lines(logs.getvalue(), "poll_failed")
    assert (line["live"], line["pages"]) == (1, 1)  # the failed poll's page is not counted


async def test_pages_counts_every_page_of_the_baseline() -> None:
    async with poller_rig(MemoryStore()) as rig:
        start_live(rig.sim, 201)  # 100 a page: three pages
        with captured_logs("info") as logs:
            assert await rig.poll()
        (line,) = log_lines(logs.getvalue(), "baseline")
    assert (line["live"], line["pages"]) == (201, 3)
