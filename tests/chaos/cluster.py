"""Several monitor replicas on one Redis, one simulated Canvas and one receiver, all real.

Every replica runs the same config file; what differs comes from its environment, as in a
StatefulSet: ``MONITOR_REPLICA_ID``, the listen address, and a Canvas token of its own (all
for the same Canvas user), so the simulator can tell whose poll it answers. ``Cluster`` reads
the replicas' ``/metrics`` and ``/readyz`` to find leaders and readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import World
from tests.chaos.processes import Replica
from tests.support.service import until

#: A schedule that outlasts the receiver outages the suite makes (about two minutes).
FAST_RETRIES: tuple[float, ...] = (0, 0.2, 0.5, 1, *(2,) * 60)

Metrics = dict[tuple[str, frozenset[tuple[str, str]]], float]


def token_for(replica: str) -> str:
    return f"token-{replica}"


@dataclass(frozen=True)
class Layout:
    """What every replica is configured with."""

    canvas_url: str
    receiver_url: str
    redis_url: str
    sources: tuple[str, ...] = ("north", "south")
    poll_interval: float = 0.2
    lease_ttl: float = 2.0
    request_timeout: float = 1.0
    poll_timeout: float = 3.0
    retry_schedule: tuple[float, ...] = FAST_RETRIES
    extra_source: dict[str, Any] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        return {
            "poll_interval": self.poll_interval,
            "lease_ttl": self.lease_ttl,
            "state_url": self.redis_url,
            "listen": "${CHAOS_LISTEN}",
            "log_format": "json",
            "shutdown_timeout": 1,
            "sources": [
                {
                    "name": name,
                    "base_url": self.canvas_url,
                    "token": "${CHAOS_CANVAS_TOKEN}",
                    "request_timeout": self.request_timeout,
                    "poll_timeout": self.poll_timeout,
                    **self.extra_source,
                }
                for name in self.sources
            ],
            "sinks": [
                {
                    "name": "ops",
                    "type": "webhook",
                    "url": self.receiver_url,
                    "timeout": 2,
                    "retry_schedule": list(self.retry_schedule),
                }
            ],
        }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    """One sample; 0 when it is absent."""
    return metrics.get((name, frozenset(labels.items())), 0.0)


class Cluster:
    def __init__(self, layout: Layout, directory: Path, names: Sequence[str], world: World) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        config = directory / "monitor.yaml"
        config.write_text(yaml.safe_dump(layout.config(), sort_keys=False))
        self.replicas: dict[str, Replica] = {}
        for name in names:
            world.add_token(token_for(name), 1)
            env = {"CHAOS_CANVAS_TOKEN": token_for(name)}
            self.replicas[name] = Replica(name, config, directory, env)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.5))

    def __getitem__(self, name: str) -> Replica:
        return self.replicas[name]

    async def start(self, within: float = 30.0) -> None:
        await asyncio.gather(*(replica.start() for replica in self.replicas.values()))
        for replica in self.replicas.values():
            await self.until_ready(replica, within)

    async def close(self) -> None:
        for replica in self.replicas.values():
            if replica.alive:
                await replica.kill()
        await self._http.close()

    async def get(self, replica: Replica, path: str) -> tuple[int, str] | None:
        """Status and body, or None when the replica does not answer (dead, paused)."""
        if not replica.alive or replica.paused:
            return None
        try:
            async with self._http.get(f"{replica.url}{path}") as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def metrics(self, replica: Replica) -> Metrics | None:
        answer = await self.get(replica, "/metrics")
        if answer is None:
            return None
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer[1])
            for sample in family.samples
        }

    async def ready(self, replica: Replica) -> bool | None:
        """True (200), False (503), None (no answer)."""
        answer = await self.get(replica, "/readyz")
        return None if answer is None else answer[0] == 200

    async def until_ready(self, replica: Replica, within: float = 30.0) -> None:
        await until(lambda: self.ready(replica), lambda ok: ok is True, within)

    async def leaders(self, source: str) -> list[Replica]:
        """The replicas that say they hold ``source``'s lease (one, in a healthy cluster)."""
        found = []
        for replica in self.replicas.values():
            metrics = await self.metrics(replica)
            if metrics and value(metrics, "conference_monitor_leader", source=source) == 1:
                found.append(replica)
        return found

    async def leader(self, source: str, within: float = 15.0) -> Replica:
        """The one leader of ``source``, once there is exactly one."""
        found: list[Replica] = await until(
            lambda: self.leaders(source), lambda held: len(held) == 1, within
        )
        return found[0]

    async def total(self, name: str, **labels: str) -> float:
        """A metric summed over the replicas that answer."""
        sums = 0.0
        for replica in self.replicas.values():
            metrics = await self.metrics(replica)
            if metrics:
                sums += value(metrics, name, **labels)
        return sums

    async def highest(self, name: str, **labels: str) -> float:
        """A metric's highest value over the replicas that answer (a gauge like a timestamp)."""
        found = [
            value(metrics, name, **labels)
            for replica in self.replicas.values()
            if (metrics := await self.metrics(replica))
        ]
        return max(found, default=0.0)

    async def every(self, name: str) -> float:
        """A metric summed over every label set and every replica that answers."""
        sums = 0.0
        for replica in self.replicas.values():
            for (sample, _), number in (await self.metrics(replica) or {}).items():
                if sample == name:
                    sums += number
        return sums

    def dump_logs(self, lines: int = 40) -> None:
        """The tail of every replica's log, for the report of a failed test."""
        for replica in self.replicas.values():
            with contextlib.suppress(OSError):
                tail = "\n".join(replica.log_lines()[-lines:])
                print(f"----- {replica.name} ({replica.log_path}) -----\n{tail}")  # noqa: T201
