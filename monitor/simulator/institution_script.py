"""A scripted institution that lives: conferences scheduled, started and ended across thousands
of courses, and now and then a course created, moved or deleted.

What ``demo`` will run once the monitor discovers accounts (and what a bench can run now): the
world is built with ``World.build_institution``, then each ``step`` creates a few conferences
that do not start yet (as teachers schedule them), starts some of those (the first join), ends
some live ones, and changes the catalogue a little, so discovery has something to find.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Final

from monitor.simulator.builder import TEACHER_BASE, InstitutionPlan, InstitutionSummary
from monitor.simulator.records import CourseState
from monitor.simulator.world import World

logger = logging.getLogger(__name__)

MAX_WAITING: Final = 40  # scheduled conferences not started yet
MAX_LIVE: Final = 25


class InstitutionDirector:
    """Drives a built institution one step at a time (seeded, so runs repeat)."""

    def __init__(self, world: World, summary: InstitutionSummary, rng: random.Random) -> None:
        self.world = world
        self.summary = summary
        self.rng = rng
        #: The conferences this institution holds (built and scheduled), oldest first.
        self.conference_ids = list(summary.conference_ids)

    def step(self) -> None:
        world, rng = self.world, self.rng
        confs = [world.get(i) for i in self.conference_ids]
        waiting = [c for c in confs if c.started_at is None]
        live = [c for c in confs if world.is_live(c)]
        for conf in rng.sample(live, min(len(live), rng.randint(0, 2))):
            world.end(conf.id)
        for conf in rng.sample(waiting, min(len(waiting), rng.randint(0, 2))):
            if len(live) < MAX_LIVE:
                world.start(conf.id)
        if len(waiting) < MAX_WAITING:
            for _ in range(rng.randint(1, 3)):
                self._schedule()
        if rng.random() < 0.1:
            self._change_catalogue()

    def _schedule(self) -> None:
        course_id = self.rng.choice(self.summary.course_ids)
        if self.world.course(course_id).workflow_state is not CourseState.AVAILABLE:
            return
        conf = self.world.create_conference(
            context_id=course_id,
            title=f"{self.world.course(course_id).course_code}: Session",
            participants=(TEACHER_BASE + course_id,),
            duration=self.rng.choice((45, 60, 90, None)),
        )
        self.conference_ids.append(conf.id)
        logger.debug("institution script scheduled conference %s", conf.id)

    def _change_catalogue(self) -> None:
        world, rng = self.world, self.rng
        course_id = rng.choice(self.summary.course_ids)
        match rng.randrange(3):
            case 0:
                world.move_course(course_id, rng.choice(self.summary.leaf_account_ids))
            case 1:
                world.delete_course(course_id)
            case _:
                made = world.add_course(
                    world.next_course_id(), account_id=rng.choice(self.summary.leaf_account_ids)
                )
                logger.debug("institution script created course %s", made.id)


async def run_institution_script(
    world: World,
    *,
    plan: InstitutionPlan,
    rng: random.Random,
    stop: asyncio.Event,
    tick: float = 2.0,
) -> InstitutionSummary:
    """Build ``plan`` into ``world``, then drive it until ``stop`` is set."""
    summary = world.build_institution(plan)
    director = InstitutionDirector(world, summary, rng)
    while True:
        try:
            async with asyncio.timeout(tick):
                await stop.wait()
        except TimeoutError:
            director.step()
        else:
            return summary
