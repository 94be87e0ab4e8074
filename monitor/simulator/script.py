"""The demo's scripted stream of conferences going live and ending, on a live ``World``.

Runs beside the simulator so ``demo`` has something to watch: a few conferences go live at
once, then every tick some start and some end (keeping roughly 3-12 live), now and then one
that ended restarts (same ``started_at``) or the token's user is removed from a live one, which
drops it from ``for_user`` while it keeps running: the monitor must confirm ends, not assume.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Final

from monitor.simulator.directory import DEFAULT_USER_ID
from monitor.simulator.records import ContextType, SimConference
from monitor.simulator.world import World

logger = logging.getLogger(__name__)

MIN_LIVE: Final = 3
MAX_LIVE: Final = 12
KEEP_ENDED: Final = 60  # older ended conferences are deleted to keep lists short
_TOPICS: Final = (
    "Office Hours", "Lecture", "Lab Session", "Study Group", "Review", "Seminar",
    "Project Check-in", "Exam Prep", "Tutorial", "Guest Talk",
)  # fmt: skip
_TYPES: Final = ("BigBlueButton",) * 6 + ("Wimba", "AdobeConnect", "CiscoWebex", "LtiConference")
_DURATIONS: Final = (30, 45, 60, 60, 90, 120, None)


async def run_demo_script(
    world: World, *, rng: random.Random, stop: asyncio.Event, tick: float = 2.0
) -> None:
    """Drive ``world`` until ``stop`` is set."""
    director = _Director(world, rng)
    director.opening()
    while not await _stopped_within(stop, tick):
        director.step()


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


class _Director:
    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng

    def opening(self) -> None:
        for _ in range(self.rng.randint(MIN_LIVE + 1, MIN_LIVE + 3)):
            self._start_new()

    def step(self) -> None:
        world = self.world
        live = [c for c in world.conferences() if world.is_live(c)]
        starts, ends = self.rng.randint(1, 2), self.rng.randint(1, 2)
        ends = max(0, min(ends, len(live) - MIN_LIVE + starts))
        ends = max(ends, len(live) + starts - MAX_LIVE)
        for conf in self.rng.sample(live, min(ends, len(live))):
            world.end(conf.id)
            logger.debug("demo ended conference %s", conf.id)
        for _ in range(starts):
            self._start_new()
        if self.rng.random() < 0.15 and len(live) - ends + starts < MAX_LIVE:
            self._restart_one()
        if self.rng.random() < 0.1:
            self._drop_participant()
        self._forget_old()

    def _start_new(self) -> None:
        contexts = [
            c for c in self.world.contexts() if DEFAULT_USER_ID in c.members and c.conferences_tab
        ]
        if not contexts:
            return
        ctx = self.rng.choice(contexts)
        others = self.rng.sample(range(2, 40), self.rng.randint(0, 4))
        conf = self.world.create_conference(
            context_type=ctx.context_type,
            context_id=ctx.context_id,
            title=self._title(ctx.context_type, ctx.context_id),
            conference_type=self.rng.choice(_TYPES),
            duration=self.rng.choice(_DURATIONS),
            participants=(DEFAULT_USER_ID, *others),
            record=self.rng.random() < 0.3,
        )
        self.world.start(conf.id)
        logger.debug("demo started conference %s", conf.id)

    def _title(self, context_type: ContextType, context_id: int) -> str:
        prefix = "Course" if context_type == "Course" else "Group"
        return f"{prefix} {context_id}: {self.rng.choice(_TOPICS)}"

    def _restart_one(self) -> None:
        ended = [c for c in self.world.conferences() if _ended(c)]
        if ended:
            conf = self.world.restart(self.rng.choice(ended[:5]).id)
            logger.debug("demo restarted conference %s", conf.id)

    def _drop_participant(self) -> None:
        world = self.world
        live = [c for c in world.live_for_user(DEFAULT_USER_ID) if len(c.users) > 1]
        if live:
            conf = world.remove_participant(self.rng.choice(live).id, DEFAULT_USER_ID)
            logger.debug("demo removed user %s from conference %s", DEFAULT_USER_ID, conf.id)

    def _forget_old(self) -> None:
        for conf in [c for c in self.world.conferences() if _ended(c)][KEEP_ENDED:]:
            self.world.delete_conference(conf.id)


def _ended(conf: SimConference) -> bool:
    return conf.started_at is not None and conf.ended_at is not None
