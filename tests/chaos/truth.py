"""Ground truth: what the simulated Canvas really did, and the events that must follow from it.

``TruthWorld`` is the simulator's ``World`` that writes down every transition it makes (a
conference going live, or ending) and every Canvas request it authenticates (which replica's
token, when). ``Churn`` drives it at random. ``expected`` turns the transitions into the event
ids the contract promises (docs/design.md, invariant 3: derived from source, conference,
``started_at``, generation and transition), and ``problems`` compares what a receiver got with
them: the same set of ids, a repeat only with the same id and the same body, and no event
detected before its transition happened (give or take the poll that saw it).

A transition can only be reported if some complete poll saw the state it led to, so ``Churn``
keeps each conference in each state for ``dwell`` seconds: longer than the longest gap between
polls the scenario allows (a lease handover, an outage). With that, the expected set is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.core.aio import first
from monitor.core.models import EventType, event_id
from monitor.simulator import SimConference, World
from monitor.simulator.records import ContextType
from tests.support.receiver import Received


@dataclass(frozen=True, slots=True)
class Transition:
    conference_id: int
    kind: EventType
    started_at: str  # as Canvas shows it
    generation: int  # restarts after an end, as the world counts them
    at: datetime  # the world's clock, whole seconds


@dataclass(frozen=True, slots=True)
class CanvasRequest:
    token: str
    at: float  # time.monotonic() when the request reached the handler


class TruthWorld(World):
    """A ``World`` that records its transitions and who asked it what."""

    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self.requests: list[CanvasRequest] = []
        super().__init__()

    def authenticate(self, token: str | None) -> int:
        self.requests.append(CanvasRequest(token or "", time.monotonic()))
        return super().authenticate(token)

    def start(self, conf_id: int, at: datetime | None = None) -> SimConference:
        was_live = self.is_live(self.get(conf_id))
        conf = super().start(conf_id, at)
        if not was_live and self.is_live(conf):
            self._record(conf, EventType.STARTED)
        return conf

    def end(self, conf_id: int, at: datetime | None = None) -> SimConference:
        was_live = self.is_live(self.get(conf_id))
        conf = super().end(conf_id, at)
        if was_live and not self.is_live(conf):
            self._record(conf, EventType.ENDED)
        return conf

    def _record(self, conf: SimConference, kind: EventType) -> None:
        started_at = self.api_json(conf)["started_at"]
        self.transitions.append(Transition(conf.id, kind, started_at, conf.generation, self.now()))

    def requests_by(self, token: str, since: float = 0.0) -> list[float]:
        return [r.at for r in self.requests if r.token == token and r.at >= since]


def expected(
    transitions: Iterable[Transition], sources: Sequence[str], *, excluding: Iterable[int] = ()
) -> dict[str, Transition]:
    """Event id → the transition it reports, for every source watching the world."""
    skip = set(excluding)
    return {
        event_id(source, t.conference_id, t.started_at, t.generation, t.kind): t
        for t in transitions
        if t.conference_id not in skip
        for source in sources
    }


def delivered_ids(hook_requests: Iterable[Received]) -> set[str]:
    return {request.event_id for request in hook_requests}


def _detected(body: Any) -> datetime:
    return datetime.fromisoformat(str(body["data"]["detected_at"]))


def problems(
    delivered: Sequence[Received], want: Mapping[str, Transition], *, poll_timeout: float
) -> list[str]:
    """Everything wrong with what a receiver got; empty when it is exactly right.

    An event's ``detected_at`` is when its poll began, which may be before the snapshot saw the
    transition, by at most ``poll_timeout`` (and a second of rounding): never earlier.
    """
    slack = timedelta(seconds=poll_timeout + 1)
    found: list[str] = []
    got = delivered_ids(delivered)
    found += [f"lost: {want[i]}" for i in sorted(want.keys() - got)]
    first_body: dict[str, bytes] = {}
    for request in delivered:
        body = request.json
        if request.event_id not in want:
            data = body["data"]
            found.append(
                f"unexpected {request.event_id}: {body['type']} of {data['conference']['id']}"
                f" in {data['source']} (restart={data['restart']}, reason={data['reason']})"
            )
            continue
        if first_body.setdefault(request.event_id, request.body) != request.body:
            found.append(f"{request.event_id} sent again with another body")
        truth = want[request.event_id]
        if _detected(body) < truth.at - slack:
            found.append(f"{request.event_id} detected at {_detected(body)}, before {truth}")
        if (body["type"], body["data"]["conference"]["id"]) != (truth.kind, truth.conference_id):
            found.append(f"{request.event_id} reports {body['type']}, not {truth}")
    return found


def duplicates(delivered: Sequence[Received]) -> int:
    """Deliveries beyond the first of each id (allowed: at-least-once, same id)."""
    return len(delivered) - len(delivered_ids(delivered))


CONTEXTS: tuple[tuple[ContextType, int], ...] = (("Course", 101), ("Course", 202), ("Group", 7))


class Churn:
    """Conferences going live, ending and coming back, at random, each held ``dwell`` seconds."""

    def __init__(
        self,
        world: TruthWorld,
        count: int,
        *,
        dwell: float,
        rng: random.Random,
        step: tuple[float, float] = (0.1, 0.4),
    ) -> None:
        self.world = world
        self.dwell = dwell
        self.step = step
        self._rng = rng
        self.ids = [
            world.create_conference(
                title=f"churn {i}",
                context_type=CONTEXTS[i % len(CONTEXTS)][0],
                context_id=CONTEXTS[i % len(CONTEXTS)][1],
            ).id
            for i in range(count)
        ]
        self._changed: dict[int, float] = dict.fromkeys(self.ids, -dwell)

    def one(self) -> Transition | None:
        """Move one conference that has held its state long enough; None if none has."""
        now = time.monotonic()
        ready = [cid for cid in self.ids if now - self._changed[cid] >= self.dwell]
        if not ready:
            return None
        cid = self._rng.choice(ready)
        before = len(self.world.transitions)
        if self.world.is_live(self.world.get(cid)):
            self.world.end(cid)
        else:
            self.world.start(cid)
        self._changed[cid] = now
        return self.world.transitions[-1] if len(self.world.transitions) > before else None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.one()
            await first(stop.wait(), asyncio.sleep(self._rng.uniform(*self.step)))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Churn in the background for the duration of the block."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    def quiet_until(self) -> float:
        """When (monotonic) the last change is ``dwell`` old: later changes are all observable."""
        return max(self._changed.values()) + self.dwell
