"""`demo` and `simulate`: the monitor without a Canvas, in one command.

``demo`` runs the simulator as a small university (faculties, departments, 300 courses, an admin
token that takes part in no conference) with scripted conferences going live and ending, and
the monitor watching all of it as an ops team would: it discovers the courses of account 1 and
reads them by the schedule, with the in-memory store and a console sink that prints each event;
the console and metrics are served as usual. ``simulate`` runs the simulator alone, for trying
dashboards or a webhook receiver against it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
from typing import TextIO

from monitor.app import serve
from monitor.config.settings import Listen, Settings, SinkConfig, SinkType, SourceConfig
from monitor.core.secret import Secret
from monitor.simulator import Simulator, World, run_demo_script
from monitor.simulator.admin_index import DOC as SIM_DOC
from monitor.simulator.builder import InstitutionPlan
from monitor.simulator.institution_script import run_institution_script

DEMO_PORT = 9464
DEMO_TOKEN = "sim-token"  # the simulator's built-in token; not a secret  # noqa: S105
ADMIN_TOKEN = "admin-token"  # the simulator's account admin; not a secret  # noqa: S105
#: The demo's university: 3 faculties of 2 departments, 300 courses, 24 conferences waiting.
CAMPUS = InstitutionPlan(accounts=(3, 2), courses=300, conferences=24, live=4)


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
        token=Secret(ADMIN_TOKEN),
        accounts=(1,),
        discovery_interval=120.0,
        rate_limit=50.0,
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
        rng = random.Random()
        plan = dataclasses.replace(CAMPUS, seed=rng.randrange(1 << 30))
        script = asyncio.gather(
            run_demo_script(world, rng=rng, stop=stop),
            run_institution_script(world, plan=plan, rng=rng, stop=stop),
        )

        def banner(url: str) -> None:
            print(
                f"\nconference-monitor demo: a simulated university at {sim.url} "
                f"({CAMPUS.courses} courses, watched through account 1)\n"
                f"  console       {url}/\n"
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
