"""``run`` sets the collector up for a long run (``monitor.commands.collector``): what exists
at start-up is frozen and the young generation is collected less often. Checked in a process of
its own, since freezing this one would hide leaks from the other tests."""

from __future__ import annotations

import json
import subprocess
import sys

from monitor.commands.collector import YOUNG

PROBE = """
import gc, json
from monitor.commands.collector import settle_for_a_long_run
before = (gc.get_freeze_count(), gc.get_threshold())
settle_for_a_long_run()
garbage = []
garbage.append(garbage)  # a cycle made after: still collectable
del garbage
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(), "collected": gc.collect()}))
"""


def test_settling_freezes_the_start_up_heap_and_spaces_young_collections() -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, our probe
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    probe = json.loads(done.stdout)
    assert probe["before"][0] == 0
    assert probe["frozen"] > 1_000  # the modules, classes and functions imported so far
    assert probe["threshold"][0] == YOUNG != probe["before"][1][0]
    assert probe["threshold"][1:] == probe["before"][1][1:]
    assert probe["collected"] >= 1  # what is made later is collected as before
