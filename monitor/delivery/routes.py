"""Routing by department: which account a course sits in, and which accounts are above it.

A sink with ``accounts: [3]`` wants the courses of account 3 and of every account below it; one
with ``courses: [101]`` wants course 101 and its groups. An event names its course and the
course's own account (``data.context``); the accounts above come from the account tree that
discovery keeps in the store for each source with ``accounts``. Delivery may run on another
replica than the poller, so the trees are read from the store, and again every ``REFRESH``.
Without a tree (a source without accounts), a course matches by its own account only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Final

import structlog

from monitor.core.directory import Directory
from monitor.core.errors import StoreError
from monitor.store.roles import WatchStore

log = structlog.get_logger("monitor.delivery.routes")

REFRESH: Final = 300.0
#: A course whose account the trees do not know (a department created since) reads them
#: again at once, but not more often than this: a filtered-out event is not delivered later.
RECHECK: Final = 10.0


class Routes:
    def __init__(
        self,
        store: Callable[[], WatchStore] | None = None,
        sources: Sequence[str] = (),
        *,
        recheck: float = RECHECK,
    ) -> None:
        self._recheck = recheck
        self._store = store  # the service's store as it is now (it may be reopened)
        self._sources = list(sources) if store is not None else []  # those with a tree
        self._trees: dict[str, Directory] = {}
        self._read_at = float("-inf")

    async def refresh(self, unknown: Collection[tuple[str, int]] = ()) -> None:
        """Read the trees again when they are older than ``REFRESH``, or when one of them lacks
        an account of ``unknown`` (``(source, account)`` pairs) and was read ``RECHECK`` ago."""
        if self._store is None:
            return
        age = time.monotonic() - self._read_at
        missing = any(not self.knows(source, account) for source, account in unknown)
        if age < REFRESH and not (missing and age >= self._recheck):
            return
        read_all = True
        for source in self._sources:
            try:
                saved = await self._store().directory(source)
            except StoreError as exc:  # keep the last tree; delivery goes on
                log.warning("routes_unread", source=source, error=str(exc))
                read_all = False
                continue
            tree = None if saved is None else Directory.decode(saved)
            if tree is not None:
                self._trees[source] = tree
            else:
                read_all = False  # not discovered yet: look again soon
        self._read_at = time.monotonic() - (0.0 if read_all else REFRESH - self._recheck)

    def knows(self, source: str, account_id: int) -> bool:
        """Does the tree of ``source`` (if it has one) know ``account_id``?"""
        tree = self._trees.get(source)
        return source not in self._sources or (tree is not None and account_id in tree.parents)

    def in_accounts(self, source: str, account_id: int | None, wanted: Collection[int]) -> bool:
        """Is ``account_id`` one of ``wanted`` or below one of them?"""
        if account_id is None:
            return False
        tree = self._trees.get(source)
        chain = [account_id] if tree is None else tree.accounts_of(account_id)
        return any(a in wanted for a in chain)

    def course_of(self, source: str, context_type: str, context_id: int | None) -> int | None:
        """The course of a course (itself) or of a course's group (when discovered)."""
        if context_type == "Course" or context_id is None:
            return context_id
        tree = self._trees.get(source)
        group = None if tree is None else tree.groups.get(context_id)
        return None if group is None else group.course_id
