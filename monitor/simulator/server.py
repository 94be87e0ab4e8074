"""The app factory and ``Simulator``: a real aiohttp server on loopback playing Canvas.

``create_app`` wires the world, throttle, faults, options and request log into one
``web.Application`` (typed app keys, no globals), so several simulators can run side by side.
``Simulator`` owns the runner: port 0 picks a free port, ``url`` says which, and stopping
cancels requests still held by ``timeout`` faults instead of waiting for them.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from aiohttp import web

from monitor.simulator import (
    admin_api,
    admin_controls,
    admin_index,
    admin_institution,
    canvas_accounts,
    canvas_api,
    canvas_courses,
)
from monitor.simulator.faults import FaultInjector
from monitor.simulator.middleware import canvas_middleware
from monitor.simulator.paging import BookmarkPages
from monitor.simulator.runtime import (
    BOOKMARKS,
    FAULTS,
    OPTIONS,
    REQUESTS,
    THROTTLE,
    WORLD,
    RequestLog,
    SimOptions,
)
from monitor.simulator.throttle import Throttle
from monitor.simulator.world import World

logger = logging.getLogger(__name__)

#: How long stopping waits for in-flight requests before cancelling them.
SHUTDOWN_GRACE = 0.25


def create_app(
    world: World,
    *,
    throttle: Throttle | None = None,
    faults: FaultInjector | None = None,
    options: SimOptions | None = None,
    requests: RequestLog | None = None,
) -> web.Application:
    app = web.Application(middlewares=[admin_api.admin_errors, canvas_middleware])
    app[WORLD] = world
    app[THROTTLE] = Throttle() if throttle is None else throttle
    app[FAULTS] = FaultInjector() if faults is None else faults
    app[OPTIONS] = SimOptions() if options is None else options
    app[REQUESTS] = RequestLog() if requests is None else requests
    app[BOOKMARKS] = BookmarkPages()
    canvas_api.add_routes(app)
    canvas_accounts.add_routes(app)
    canvas_courses.add_routes(app)
    app.add_routes(admin_api.routes)
    app.add_routes(admin_controls.routes)
    app.add_routes(admin_index.routes)
    app.add_routes(admin_institution.routes)
    return app


class Simulator:
    """A fake Canvas on ``host:port``; use ``async with Simulator() as sim`` or start/stop."""

    def __init__(
        self, world: World | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.world = World() if world is None else world
        self.host = host
        self.port = port
        self.throttle = Throttle()
        self.faults = FaultInjector()
        self.options = SimOptions()
        self.requests = RequestLog()
        self.app = create_app(
            self.world,
            throttle=self.throttle,
            faults=self.faults,
            options=self.options,
            requests=self.requests,
        )
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:NNNNN`` once started."""
        if self._url is None:
            raise RuntimeError("the simulator is not running; await start() first")
        return self._url

    @property
    def latency(self) -> float:
        return self.options.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency: must be a non-negative number of seconds")
        self.options.latency = seconds

    @property
    def link_header_lowercase(self) -> bool:
        return self.options.link_header_lowercase

    @link_header_lowercase.setter
    def link_header_lowercase(self, value: bool) -> None:
        self.options.link_header_lowercase = value

    @property
    def link_host_upper(self) -> bool:
        return self.options.link_host_upper

    @link_host_upper.setter
    def link_host_upper(self, value: bool) -> None:
        self.options.link_host_upper = value

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        runner = web.AppRunner(
            self.app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_GRACE
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        self._url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        logger.info("simulator listening on %s", self._url)

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
