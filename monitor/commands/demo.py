"""`demo` and `simulate`: the monitor without a Canvas, in one command.

``demo`` runs the simulator with its scripted stream of conferences, the monitor polling it
every second with the in-memory store, and a console sink that prints each event; the status
page and metrics are served as usual. ``simulate`` runs the simulator alone, for trying
dashboards or a webhook receiver against it.
"""

from __future__ import annotations

import asyncio
import random
import socket
from typing import TextIO

from monitor.app import serve
from monitor.config.settings import Listen, Settings, SinkConfig, SinkType, SourceConfig
from monitor.core.secret import Secret
from monitor.simulator import Simulator, World, run_demo_script
from monitor.simulator.admin_index import DOC as SIM_DOC

DEMO_PORT = 9464
DEMO_TOKEN = "sim-token"  # the simulator's built-in token; not a secret  # noqa: S105


def _free(port: int) -> int:
    """``port`` when it is free on loopback, else 0 (any free port)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


def demo_settings(canvas_url: str, port: int) -> Settings:
    source = SourceConfig(
        name="demo",
        base_url=canvas_url,
        token=Secret(DEMO_TOKEN),
        courses=(101,),
        announce_existing=True,
        poll_timeout=10.0,
    )
    console = SinkConfig(name="console", type=SinkType.CONSOLE, url=Secret(""))
    return Settings(
        sources=(source,),
        sinks=(console,),
        poll_interval=1.0,
        listen=Listen("127.0.0.1", port),
        shutdown_timeout=2.0,
    )


async def demo(stop: asyncio.Event, out: TextIO, *, port: int = DEMO_PORT) -> None:
    world = World()
    async with Simulator(world) as sim:
        script = asyncio.create_task(run_demo_script(world, rng=random.Random(), stop=stop))

        def banner(url: str) -> None:
            print(
                f"\nconference-monitor demo: a simulated Canvas at {sim.url}\n"
                f"  status page   {url}/\n"
                f"  live (JSON)   {url}/api/v1/live\n"
                f"  metrics       {url}/metrics\n"
                f"  readiness     {url}/readyz\n"
                "Events appear below as conferences go live and end. Ctrl-C stops.\n",
                file=out,
                flush=True,
            )

        try:
            await serve(demo_settings(sim.url, _free(port)), stop, on_listening=banner)
        finally:
            stop.set()
            await script


async def simulate(stop: asyncio.Event, out: TextIO, *, host: str, port: int, script: bool) -> None:
    world = World()
    async with Simulator(world, host=host, port=port) as sim:
        print(
            f"Simulated Canvas at {sim.url}  (token: {DEMO_TOKEN})\n"
            f"  live list     {sim.url}/api/v1/conferences?state=live\n"
            f"  ground truth  {sim.url}/_sim/state\n"
            f"  admin API     {sim.url}/_sim/  (what each endpoint does: {SIM_DOC})\n"
            f"Scripted churn is {'on' if script else 'off'}. Ctrl-C stops.",
            file=out,
            flush=True,
        )
        if script:
            await run_demo_script(world, rng=random.Random(), stop=stop)
        else:
            await stop.wait()
