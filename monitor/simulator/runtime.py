"""What the handlers of one simulator share: its options, its request log and the app keys.

Kept in one small module so ``canvas_api``, ``admin_api`` and the middleware can all reach the
same objects through typed ``web.AppKey``s without importing the server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from aiohttp import web

from monitor.simulator.faults import FaultInjector
from monitor.simulator.paging import BookmarkPages
from monitor.simulator.throttle import Throttle
from monitor.simulator.world import World

#: Paths under this prefix are the simulator's own admin API: never throttled, faulted or logged.
ADMIN_PREFIX = "/_sim/"


@dataclass(slots=True)
class SimOptions:
    """Switches that change how the fake Canvas answers, for client tests and benchmarks."""

    latency: float = 0.0  # extra seconds on every Canvas API request
    link_header_lowercase: bool = False  # send ``link`` instead of ``Link``
    link_host_upper: bool = False  # write the host in ``Link`` URLs in upper case

    def reset(self) -> None:
        self.latency = 0.0
        self.link_header_lowercase = False
        self.link_host_upper = False


class RequestRecord(NamedTuple):
    method: str
    path_qs: str
    status: int  # 0 when no response was sent (connection reset, client gave up)


class RequestLog:
    """The Canvas API requests the simulator answered (the latest ``limit``), oldest first."""

    def __init__(self, limit: int = 100_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=limit)

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)

    def count(self, path_prefix: str = "/") -> int:
        """How many requests had a path (with query) starting with ``path_prefix``."""
        return sum(1 for r in self._records if r.path_qs.startswith(path_prefix))

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(list(self._records))

    def __getitem__(self, index: int) -> RequestRecord:
        return self._records[index]


WORLD = web.AppKey("world", World)
FAULTS = web.AppKey("faults", FaultInjector)
THROTTLE = web.AppKey("throttle", Throttle)
OPTIONS = web.AppKey("options", SimOptions)
REQUESTS = web.AppKey("requests", RequestLog)
BOOKMARKS = web.AppKey("bookmarks", BookmarkPages)
