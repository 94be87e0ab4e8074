"""What a lease is for: a source (one replica polls it) or a sink (one replica delivers to it).

Replicas share out sources and sinks by leases (invariant 8). Code says which with a
``LeaseName``; only ``LeaseName.key`` spells it as a string, the way the store keys it, the
metrics label it (``lease_transitions_total{lease="sink:ops"}``) and rendezvous hashing scores
it. Those spellings are observable and shared by every replica of a rolling upgrade, so they
never change: a source's lease is its bare name, a sink's is ``sink:<name>`` (source names are
``[a-z0-9_-]+``, so the two cannot meet).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LeaseKind(StrEnum):
    SOURCE = "source"
    SINK = "sink"


@dataclass(frozen=True, slots=True)
class LeaseName:
    kind: LeaseKind
    name: str  # the source's or the sink's name, as configured

    @classmethod
    def source(cls, name: str) -> LeaseName:
        return cls(LeaseKind.SOURCE, name)

    @classmethod
    def sink(cls, name: str) -> LeaseName:
        return cls(LeaseKind.SINK, name)

    @property
    def key(self) -> str:
        """The lease as the store, the metrics and the logs spell it."""
        match self.kind:
            case LeaseKind.SOURCE:
                return self.name
            case LeaseKind.SINK:
                return f"sink:{self.name}"

    def __str__(self) -> str:
        return self.key
