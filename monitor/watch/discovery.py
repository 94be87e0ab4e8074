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
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Final

import structlog

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.config.settings import SourceConfig
from monitor.core.contexts import ContextInfo
from monitor.core.directory import Directory
from monitor.core.errors import CanvasError, PollFailure, StoreError
from monitor.core.purpose import Purpose, reading_for
from monitor.observe.metrics import Metrics
from monitor.store.roles import WatchStore

log = structlog.get_logger("monitor.watch.discovery")

#: Seconds before a failed discovery is tried again (well inside any ``discovery_interval``).
RETRY: Final = 60.0
#: Seconds one discovery may take, throttling waits included (10,000 courses: ~100 requests).
BUDGET: Final = 1800.0


class LeaseLost(Exception):  # noqa: N818 - a signal: stop paging, another replica has it
    """The source moved to another replica while its discovery was under way."""


async def discover(
    client: CanvasClient,
    source: SourceConfig,
    deadline: Deadline,
    *,
    clock: Callable[[], float],
    before: Directory | None = None,
    still: Callable[[], bool] = lambda: True,
) -> Directory:
    """One complete read of the source's accounts (and, if asked, their courses' groups).

    ``still`` is asked between requests: once it says no (the lease moved), paging stops, so
    two replicas do not spend one token's budget at once for long (invariant 9)."""
    courses: dict[int, ContextInfo] = {}
    parents: dict[int, int | None] = {}
    with reading_for(Purpose.DISCOVERY):
        for account in source.accounts:
            if not still():
                raise LeaseLost
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
        groups = {}
        if source.discover_groups:
            known = {} if before is None else before.groups
            groups = await _groups(client, courses, known, deadline, still)
    return Directory(courses, parents, groups, clock())


async def _groups(
    client: CanvasClient,
    courses: dict[int, ContextInfo],
    known: Mapping[int, ContextInfo],
    deadline: Deadline,
    still: Callable[[], bool],
) -> dict[int, ContextInfo]:
    """The groups of each course (one listing per course: off unless ``discover_groups``).

    A course that will not list its groups (no ``read_roster`` there, a 5xx) keeps those it
    had: one course must not fail the discovery of ten thousand. Throttling stops it all."""
    found: dict[int, ContextInfo] = {}
    for course in courses.values():
        if not still():
            raise LeaseLost
        path = f"/api/v1/courses/{course.id}/groups"
        try:
            listed = await client.objects(path, {}, deadline)
        except CanvasError as exc:
            if exc.reason is PollFailure.THROTTLED or deadline.remaining() <= 0:
                raise
            found.update((g.id, g) for g in known.values() if g.course_id == course.id)
            continue
        for raw in listed:
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

    async def refresh(self, still: Callable[[], bool] = lambda: True) -> bool:
        """One discovery; True when it completed (the directory is replaced and saved).
        ``still``: does this replica still hold the source (asked between requests)."""
        began = time.monotonic()
        try:
            directory = await discover(
                self._client,
                self.source,
                Deadline(BUDGET),
                clock=self._clock,
                before=self.directory,
                still=still,
            )
            if still():  # else the replica that holds it now discovers for itself
                await self._store.save_directory(self.source.name, directory.encode())
        except LeaseLost:
            return False
        except (CanvasError, StoreError) as exc:
            if self.failing is None:
                log.warning("discovery_failed", source=self.source.name, error=str(exc))
            self._metrics.discovery_failures.labels(self.source.name).inc()
            self.failing = str(exc)
            self._retry_at = time.monotonic() + RETRY
            return False
        if not still():
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
        """Discover whenever due, while ``may_read`` (this replica holds the source). A
        directory saved by an earlier process or another replica counts: it is due only when
        it is old."""
        loaded = False
        while not stop.is_set():
            if not loaded and may_read():
                with contextlib.suppress(StoreError):  # then it is discovered anew
                    await self.load()
                loaded = True
            wait = self.due_in()
            if wait <= 0 and may_read():
                await self.refresh(may_read)
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
