"""Names for messages: the facts of each event's course or group, learnt once and kept.

Events say "BIO-101 · Introduction to Biology", not "Course 101" (``data.context``). A
discovered course's facts came with its account's listing; any other context (the token's live
list, configured courses and groups) is asked once, ``GET /api/v1/courses/:id`` or
``groups/:id``, when its first event is about to be committed. A name is a courtesy: a failed
look-up never fails a poll (the event goes out with nulls) and is not asked again for a while.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Final

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.core.contexts import Context, ContextInfo
from monitor.core.diff import Outcome
from monitor.core.directory import Directory
from monitor.core.errors import CanvasError
from monitor.core.models import Conference
from monitor.core.purpose import Purpose, reading_for

#: Seconds before a context whose facts could not be read is asked again.
RETRY_AFTER: Final = 3600.0
_PATHS: Final = {"Course": "courses", "Group": "groups"}


class Names:
    def __init__(
        self,
        client: CanvasClient,
        directory: Callable[[], Directory | None] = lambda: None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._directory = directory
        self._clock = clock
        self._known: dict[Context, ContextInfo] = {}
        self._failed: dict[Context, float] = {}  # when it may be asked again

    def describe(self, conference: Conference) -> ContextInfo | None:
        context = conference.context
        if context is None:
            return None
        directory = self._directory()
        if directory is not None:
            found = (directory.courses if context[0] == "Course" else directory.groups).get(
                context[1]
            )
            if found is not None:
                return found
        return self._known.get(context)

    async def name(self, outcome: Outcome, deadline: Deadline) -> Outcome:
        """``outcome`` with each event's context facts (asking Canvas for those not known)."""
        if not outcome.events:
            return outcome
        for event in outcome.events:
            await self._learn(event.conference, deadline)
        events = tuple(
            dataclasses.replace(e, context=self.describe(e.conference)) for e in outcome.events
        )
        return Outcome(outcome.state, events, outcome.delta)

    async def _learn(self, conference: Conference, deadline: Deadline) -> None:
        context = conference.context
        if context is None or context[0] not in _PATHS or self.describe(conference) is not None:
            return
        if self._failed.get(context, 0.0) > self._clock():
            return
        kind, number = context
        try:
            with reading_for(Purpose.NAMES):
                raw = await self._client.one(f"/api/v1/{_PATHS[kind]}/{number}", deadline)
        except CanvasError:
            self._failed[context] = self._clock() + RETRY_AFTER
            return
        info = ContextInfo.from_course(raw) if kind == "Course" else ContextInfo.from_group(raw)
        if info is None or info.key != context:
            self._failed[context] = self._clock() + RETRY_AFTER
            return
        self._known[context] = info
