"""Simulated Canvases the size the scenarios need.

``World.for_user`` scans every conference on every request, as Canvas's SQL reads; with tens of
thousands of conferences that scan, not the monitor, would set the pace of a benchmark. The
``IndexedWorld`` here answers the same query from an index by participant.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from monitor.simulator import SimConference, World
from monitor.simulator.records import is_live

COURSE_BASE = 10_000  # course ids of the bench start here, clear of the default ones
PER_CONTEXT = 50  # conferences per course: a confirmation is one page of its context


class IndexedWorld(World):
    """The same answers as ``World``, found through an index of conferences by participant."""

    def reset(self) -> None:
        super().reset()
        self._by_user: defaultdict[int, set[int]] = defaultdict(set)

    def create_conference(self, **kwargs: Any) -> SimConference:
        conf = super().create_conference(**kwargs)
        for user in conf.users:
            self._by_user[user].add(conf.id)
        return conf

    def for_user(self, user_id: int, *, live: bool = False) -> list[SimConference]:
        if not self.plugins_configured:
            return []
        now = self.now()
        known = self._conferences
        mine = (c for i in self._by_user.get(user_id, ()) if (c := known.get(i)) is not None)
        found = [
            c
            for c in mine
            if self.is_member(user_id, c.context_type, c.context_id)
            and user_id in c.users
            and (not live or is_live(c, now))
        ]
        return sorted(found, key=lambda c: c.sort_key, reverse=True)


def live_for_one_user(world: World, n: int, user: int = 1) -> list[int]:
    """``n`` live conferences of ``user``, ``PER_CONTEXT`` to a course; their ids."""
    ids = []
    for i in range(n):
        course = COURSE_BASE + i // PER_CONTEXT
        if i % PER_CONTEXT == 0:
            world.add_context("Course", course)
            world.enroll(user, "Course", course)
        conf = world.create_conference(context_id=course, participants=(user,))
        ids.append(world.start(conf.id).id)
    return ids


def many_users(world: World, users: int, live: int) -> list[str]:
    """``users`` users, each with a token, a course and ``live`` live conferences; the tokens."""
    tokens = []
    for user in range(2, users + 2):
        token = f"bench-token-{user}"
        world.add_token(token, user)
        world.add_context("Course", COURSE_BASE + user)
        world.enroll(user, "Course", COURSE_BASE + user)
        for _ in range(live):
            conf = world.create_conference(context_id=COURSE_BASE + user, participants=(user,))
            world.start(conf.id)
        tokens.append(token)
    return tokens
