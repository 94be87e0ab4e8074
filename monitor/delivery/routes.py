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


class Routes:
    def __init__(
        self, store: Callable[[], WatchStore] | None = None, sources: Sequence[str] = ()
    ) -> None:
        self._store = store  # the service's store as it is now (it may be reopened)
        self._sources = list(sources) if store is not None else []  # those with a tree
        self._trees: dict[str, Directory] = {}
        self._read_at = float("-inf")

    async def refresh(self) -> None:
        """Read the trees again when they are older than ``REFRESH`` (cheap otherwise)."""
        if self._store is None or time.monotonic() - self._read_at < REFRESH:
            return
        self._read_at = time.monotonic()
        for source in self._sources:
            try:
                saved = await self._store().directory(source)
            except StoreError as exc:  # keep the last tree; delivery goes on
                log.warning("routes_unread", source=source, error=str(exc))
                continue
            tree = None if saved is None else Directory.decode(saved)
            if tree is not None:
                self._trees[source] = tree

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

