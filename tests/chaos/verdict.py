"""The end of every scenario: let the cluster catch up, then hold it to the ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from tests.chaos.cluster import Cluster
from tests.chaos.truth import Transition, TruthWorld, duplicates, expected, problems
from tests.support.receiver import Receiver
from tests.support.service import until

#: After the last expected event arrived, how long a stray one (a new id) has to show up.
QUIET = 2.0


@dataclass(frozen=True)
class Tally:
    transitions: int
    events: int  # distinct ids delivered
    duplicates: int  # repeats of an id (at-least-once)

    def __str__(self) -> str:
        return f"{self.transitions} transitions, {self.events} events, {self.duplicates} repeats"


async def exact(
    cluster: Cluster,
    receiver: Receiver,
    world: TruthWorld,
    *,
    within: float = 45.0,
    excluding: Iterable[int] = (),
) -> Tally:
    """Every replica alive; the receiver got exactly the events the truth implies."""
    dead = [name for name, replica in cluster.replicas.items() if not replica.alive]
    assert not dead, f"replicas died: {dead}"
    skip = set(excluding)
    want = expected(world.transitions, cluster.layout.sources, excluding=skip)

    async def lost() -> list[Transition]:
        got = {request.event_id for request in receiver.delivered}
        return sorted((want[i] for i in want.keys() - got), key=lambda t: t.at)

    await until(lost, lambda missing: not missing, within)
    await asyncio.sleep(QUIET)  # a negative check: room for an event that must not come
    found = problems(receiver.delivered, want, poll_timeout=cluster.layout.poll_timeout)
    assert not found, "\n".join(found)
    dead = [name for name, replica in cluster.replicas.items() if not replica.alive]
    assert not dead, f"replicas died: {dead}"
    transitions = sum(1 for t in world.transitions if t.conference_id not in skip)
    return Tally(transitions, len(want), duplicates(receiver.delivered))
