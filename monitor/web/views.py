"""What the HTTP face reads of the running service: small views, so ``web`` depends on what it
shows (names, states, failures) and not on the poller or the dispatcher that keep them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from aiohttp import web

from monitor.core.contexts import ContextInfo
from monitor.core.errors import PollFailure
from monitor.core.models import Conference, SourceState
from monitor.observe.metrics import Metrics
from monitor.store.roles import Store
from monitor.store.values import SinkDisabled
from monitor.watch.summary import WatchSummary


class SourceView(Protocol):
    """A source as its poller knows it."""

    @property
    def name(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def elsewhere(self) -> bool:
        """Another replica polls it (and answers for it)."""

    @property
    def state(self) -> SourceState: ...
    @property
    def failing(self) -> PollFailure | None: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def last_success(self) -> float | None:
        """``time.monotonic()`` of the last good poll."""

    @property
    def coverage_problem(self) -> str | None:
        """Why the source does not watch all it should (its accounts' discovery has not
        completed, or fails), or None."""

    def describe(self, conference: Conference) -> ContextInfo | None:
        """What is known of the conference's course or group."""

    def watch_summary(self) -> WatchSummary | None:
        """Its watch of an institution (tiers, sweep, discovery, budget), or None."""


class SinkView(Protocol):
    """A sink this replica delivers for."""

    @property
    def name(self) -> str: ...
    @property
    def disabled(self) -> SinkDisabled | None: ...
    @property
    def failing(self) -> str | None: ...


class ServiceView(Protocol):
    @property
    def pollers(self) -> Sequence[SourceView]: ...
    @property
    def runners(self) -> Sequence[SinkView]: ...
    @property
    def store(self) -> Store: ...
    @property
    def metrics(self) -> Metrics: ...

    def dead_loops(self) -> list[str]:
        """Names of loops that stopped or stopped beating."""

    def standby(self) -> tuple[str, ...] | None:
        """The replicas doing all the work, when this one is a standby."""

    @property
    def replica(self) -> str:
        """This replica's name."""

    def sink_types(self) -> Mapping[str, str]:
        """Every configured sink (name -> type), wherever it is delivered."""


SERVICE: Final = web.AppKey("service", ServiceView)
