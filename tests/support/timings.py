"""The timings tests run with: production's, without the waits no test is about.

Every helper that runs a part of the service (``running``, ``running_sink``, ``running_chat``,
``poller_rig``) takes ``timings=QUICK`` by default; a test about one wait passes its own
(``Timings.for_tests(read_wait=5.0)``, or ``Timings()`` for production's). The Canvas client on
its own (``make_client``) keeps production's backoff, which its tests measure.
"""

from __future__ import annotations

from typing import Final

from monitor.core.timings import Timings

QUICK: Final = Timings.for_tests()
