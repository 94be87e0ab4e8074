"""Turn Canvas answers into what the diff needs: a complete snapshot and confirmations.

A snapshot is the ``?state=live`` list plus, for each course and group the source watches, the
conferences of that context that are live by Canvas's own rule. Any failed page raises, so a
snapshot is complete or does not exist. Confirmations are asked per context, and a context
listing fetched for the snapshot is reused rather than asked twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.canvas.client import CONTEXT_PATHS, CanvasClient
from monitor.canvas.lane import Deadline
from monitor.config.settings import SourceConfig
from monitor.core.diff import Answer, Confirmation
from monitor.core.errors import CanvasError
from monitor.core.models import Conference, Snapshot

Context = tuple[str, int]


async def take_snapshot(
    client: CanvasClient, source: SourceConfig, now: datetime, deadline: Deadline
) -> tuple[Snapshot, dict[Context, list[Conference]]]:
    """The complete live set, and the context listings fetched on the way."""
    snapshot = {c.id: c for c in await client.live(deadline)}
    listings: dict[Context, list[Conference]] = {}
    watched = [("Course", i) for i in source.courses] + [("Group", i) for i in source.groups]
    for context in watched:
        listings[context] = await client.context(*context, deadline, remember=True)
        for conference in listings[context]:
            if conference.id not in snapshot and conference.is_live(now):
                snapshot[conference.id] = conference
    return snapshot, listings


async def confirm(
    client: CanvasClient,
    vanished: Sequence[Conference],
    listings: dict[Context, list[Conference]],
    deadline: Deadline,
) -> dict[int, Confirmation]:
    """Ask each vanished conference's context what became of it, one request set per context."""
    answers: dict[int, Confirmation] = {}
    by_context: dict[Context, list[Conference]] = defaultdict(list)
    for conference in vanished:
        context_type, context_id = conference.context_type, conference.context_id
        if context_type in CONTEXT_PATHS and context_id is not None:
            by_context[(context_type, context_id)].append(conference)
        else:  # nowhere to ask
            answers[conference.id] = Confirmation(Answer.ABSENT)
    for context, missing in by_context.items():
        listing = listings.get(context)
        if listing is None:
            try:
                listing = await client.context(*context, deadline)
            except CanvasError as exc:
                answer = Answer.ABSENT if exc.definite else Answer.FAILED
                answers.update((c.id, Confirmation(answer)) for c in missing)
                continue
        answers.update(_match(missing, listing))
    return answers


def _match(missing: Iterable[Conference], listing: list[Conference]) -> dict[int, Confirmation]:
    found = {c.id: c for c in listing}
    return {
        c.id: Confirmation(Answer.FOUND, found[c.id])
        if c.id in found
        else Confirmation(Answer.ABSENT)
        for c in missing
    }
