"""Discovery: read every course of a source's accounts, on a slow beat, into a ``Directory``.

``GET /api/v1/accounts/:id/courses`` lists an account's courses and those of its sub-accounts
(deleted ones excluded), 100 a page, sorted by id, in numbered pages without ``rel="last"``: a
campus of 10,000 courses is 100 requests. ``sub_accounts?recursive=true`` gives the tree that
routing by department needs. The requests go through the token's lane like every other, so
discovery shares the budget (invariant 9) instead of adding to it; it runs beside the reads in
a task of its own, so live courses keep their beat while it pages.

A discovery is complete or nothing: a failed page keeps the last directory (a course is never
dropped because a page failed) and is tried again after ``RETRY``; the source is not ready
while its discovery fails (``failing``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Final

import structlog

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.config.settings import SourceConfig
from monitor.core.contexts import ContextInfo
from monitor.core.directory import Directory
from monitor.core.errors import CanvasError, StoreError
from monitor.core.purpose import Purpose, reading_for
from monitor.observe.metrics import Metrics
from monitor.store.roles import WatchStore

log = structlog.get_logger("monitor.watch.discovery")

#: Seconds before a failed discovery is tried again (well inside any ``discovery_interval``).
RETRY: Final = 60.0
#: Seconds one discovery may take, throttling waits included (10,000 courses: ~100 requests).
BUDGET: Final = 1800.0


async def discover(
    client: CanvasClient, source: SourceConfig, deadline: Deadline, *, clock: Callable[[], float]
) -> Directory:
    """One complete read of the source's accounts (and, if asked, their courses' groups)."""
    courses: dict[int, ContextInfo] = {}
    parents: dict[int, int | None] = {}
    with reading_for(Purpose.DISCOVERY):
        for account in source.accounts:
            parents.setdefault(account, None)
            listed = await client.objects(f"/api/v1/accounts/{account}/courses", {}, deadline)
            for raw in listed:
                info = ContextInfo.from_course(raw)
                if info is not None and info.workflow_state != "deleted":
                    courses[info.id] = info
            tree = await client.objects(
                f"/api/v1/accounts/{account}/sub_accounts", {"recursive": "true"}, deadline
            )
            for raw in tree:
                account_id, parent = raw.get("id"), raw.get("parent_account_id")
                if isinstance(account_id, int):
                    parents[account_id] = parent if isinstance(parent, int) else None
        groups = await _groups(client, courses, deadline) if source.discover_groups else {}
    return Directory(courses, parents, groups, clock())


async def _groups(
    client: CanvasClient, courses: dict[int, ContextInfo], deadline: Deadline
) -> dict[int, ContextInfo]:
    """The groups of each course (one listing per course: off unless ``discover_groups``)."""
    found: dict[int, ContextInfo] = {}
    for course in courses.values():
        for raw in await client.objects(f"/api/v1/courses/{course.id}/groups", {}, deadline):
            info = ContextInfo.from_group(raw)
            if info is not None:  # routed by its course's account
                found[info.id] = dataclasses.replace(
                    info, account_id=course.account_id, course_id=course.id
                )
    return found


class Discovery:
    """Keeps one source's directory: loaded from the store, refreshed every interval."""

    def __init__(
        self,
        source: SourceConfig,
        client: CanvasClient,
        store: WatchStore,
        *,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self._metrics = metrics.watch
        self._client = client
        self._store = store
        self._clock = clock
        self.directory: Directory | None = None
        self.changed = asyncio.Event()  # set when ``directory`` is replaced
        self.failing: str | None = None  # what the last failed discovery said (no secrets)
        self.last_success: float | None = None  # time.monotonic() of the last good discovery
        self._retry_at = 0.0  # time.monotonic() when a failed discovery is tried again

    async def load(self) -> None:
        """Start from the stored directory, if there is one (a restart, another replica)."""
        saved = await self._store.directory(self.source.name)
        directory = None if saved is None else Directory.decode(saved)
        if directory is not None:
            self._replace(directory)

    def due_in(self) -> float:
        """Seconds until the next discovery is due (0: now)."""
        if self.failing is not None:
            return max(0.0, self._retry_at - time.monotonic())
        if self.directory is None:
            return 0.0
        return max(0.0, self.directory.read_at + self.source.discovery_interval - self._clock())

    async def refresh(self) -> bool:
        """One discovery; True when it completed (the directory is replaced and saved)."""
        began = time.monotonic()
        try:
            directory = await discover(
                self._client, self.source, Deadline(BUDGET), clock=self._clock
            )
            await self._store.save_directory(self.source.name, directory.encode())
        except (CanvasError, StoreError) as exc:
            if self.failing is None:
                log.warning("discovery_failed", source=self.source.name, error=str(exc))
            self._metrics.discovery_failures.labels(self.source.name).inc()
            self.failing = str(exc)
            self._retry_at = time.monotonic() + RETRY
            return False
        if self.failing is not None:
            log.info("discovery_recovered", source=self.source.name)
        self.failing = None
        self.last_success = time.monotonic()
        before = self.directory
        self._replace(directory)
        log.info(
            "discovered",
            source=self.source.name,
            courses=len(directory.courses),
            accounts=len(directory.parents),
            new=len(directory.courses.keys() - (before.courses.keys() if before else set())),
            gone=len((before.courses.keys() if before else set()) - directory.courses.keys()),
            seconds=round(time.monotonic() - began, 3),
        )
        return True

    async def run(self, stop: asyncio.Event, may_read: Callable[[], bool]) -> None:
        """Discover whenever due, while ``may_read`` (this replica holds the source)."""
        while not stop.is_set():
            wait = self.due_in()
            if wait <= 0 and may_read():
                await self.refresh()
                continue
            try:
                await asyncio.wait_for(stop.wait(), max(wait, 1.0))
            except TimeoutError:
                continue

    def _replace(self, directory: Directory) -> None:
        self.directory = directory
        self._metrics.discovered.labels(self.source.name).set(len(directory.courses))
        self._metrics.last_discovery.labels(self.source.name).set(directory.read_at)
        self.changed.set()
