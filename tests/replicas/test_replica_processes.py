"""One name, one process (invariant 11), with real ``conference-monitor run`` processes.

Every process of a test shares one real Redis and one simulated Canvas. A test's lock directory
(``XDG_RUNTIME_DIR``) stands for a machine: two processes with the same one run on one machine,
two with different ones (and different host names) on two machines.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.core.lease_name import LeaseName
from monitor.replicas.leases import owner
from monitor.simulator import Simulator
from tests.support.cli import clean_env, config_text, write
from tests.support.redis_server import free_port
from tests.support.service import until

pytestmark = pytest.mark.e2e


class Replica:
    """One monitor process; its stderr (JSON log lines) is read as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.logs: list[dict[str, Any]] = []
        self.text: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.text.append(line)
            if line.startswith("{"):
                self.logs.append(json.loads(line))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry.get("event") == name]

    async def logged(self, name: str, within: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while not (found := self.events(name)):
                assert self.proc.returncode is None or not self._reader.done(), self.stderr
                await asyncio.sleep(0.05)
        return found[0]

    async def readyz(self) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            return response.status, await response.json()

    async def exited(self, within: float) -> int:
        code = await asyncio.wait_for(self.proc.wait(), within)
        await self._reader
        return code

    @property
    def name(self) -> str:
        return str(self.events("listening")[0]["replica"])

    @property
    def stderr(self) -> str:
        return "".join(self.text)


@asynccontextmanager
async def cluster(tmp_path: Path, redis_url: str, lease_ttl: float) -> AsyncIterator[Any]:
    """A factory of replicas of one config (one source, no sink: one replica has it all)."""
    started: list[Replica] = []
    async with Simulator() as sim:

        async def start(**env: str) -> Replica:
            port = free_port()
            text = config_text(sim.url, state_url=redis_url, listen=f"127.0.0.1:{port}")
            path = write(tmp_path, text + f"lease_ttl: {lease_ttl}\n", f"replica-{port}.yaml")
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config",
                str(path),
                env=clean_env(**env),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            replica = Replica(proc, port)
            started.append(replica)
            return replica

        try:
            yield start
        finally:
            for replica in started:
                if replica.proc.returncode is None:
                    replica.proc.kill()
                await replica.exited(10)


def check(body: Any, name: str) -> dict[str, Any]:
    (found,) = [c for c in body["checks"] if c["name"] == name]
    assert isinstance(found, dict)
    return found


def machine(tmp_path: Path, name: str, host: str) -> dict[str, str]:
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    return {"XDG_RUNTIME_DIR": str(directory), "HOSTNAME": host}


def host_where_first_is(active: bool) -> str:
    """A host name whose first process (``host``) owns the source iff ``active``."""
    for n in range(100):
        host = f"node-{n}"
        if (owner(LeaseName.source("main"), [host, f"{host}-2"]) == host) == active:
            return host
    raise AssertionError("no such host name")


@pytest.mark.parametrize("first_active", [True, False], ids=["first-polls", "second-polls"])
async def test_two_processes_without_a_name_share_the_work_and_a_standby_takes_over(
    tmp_path: Path, redis_url: str, first_active: bool
) -> None:
    env = machine(tmp_path, "one", host_where_first_is(first_active))
    async with cluster(tmp_path, redis_url, lease_ttl=3) as start:
        first = await start(**env)
        await first.logged("listening")
        second = await start(**env)
        await second.logged("listening")
        assert (first.name, second.name) == (env["HOSTNAME"], env["HOSTNAME"] + "-2")

        active, standby = (first, second) if first_active else (second, first)
        await standby.logged("standby")
        status, body = await standby.readyz()
        assert status == 200
        assert body["standby"]["active"] == [active.name]
        await active.logged("lease_changed")
        assert "standby" not in (await active.readyz())[1]
        await asyncio.sleep(3)  # a lease ttl: the pair stays as it is
        for replica in (first, second):
            assert replica.proc.returncode is None
            assert not replica.events("replica_name_taken"), replica.stderr

        active.proc.send_signal(signal.SIGKILL)
        takeover = await standby.logged("takeover")
        assert takeover["previous"] == active.name
        assert takeover["lease"] == "main"
        assert not standby.events("heartbeat_lapsed")
        _, body = await until(  # it polls now: ready on its own account
            standby.readyz, lambda answer: "standby" not in answer[1] and answer[1]["ready"], 10
        )
        assert check(body, "source:main").get("polled_here", True) is True
        assert len(standby.events("standby")) == 1  # one line, when it became one


async def test_a_name_given_twice_on_one_machine_is_refused_at_start(
    tmp_path: Path, redis_url: str
) -> None:
    env = {**machine(tmp_path, "one", "node"), "MONITOR_REPLICA_ID": "replica-a"}
    async with cluster(tmp_path, redis_url, lease_ttl=3) as start:
        first = await start(**env)
        await first.logged("lease_changed")
        second = await start(**env)
        assert await second.exited(10) == 1
        assert "MONITOR_REPLICA_ID" in second.stderr
        assert "Traceback" not in second.stderr
        await asyncio.sleep(3)  # a lease ttl: a lapse, if one came, has no earlier sign
        assert first.proc.returncode is None
        assert (await first.readyz())[0] == 200
        assert not first.events("replica_name_taken")
        assert not first.events("heartbeat_lapsed")


async def test_a_name_given_twice_on_two_machines_is_refused_at_start(
    tmp_path: Path, redis_url: str
) -> None:
    async with cluster(tmp_path, redis_url, lease_ttl=3) as start:
        first = await start(**machine(tmp_path, "one", "node-1"), MONITOR_REPLICA_ID="shared")
        await first.logged("lease_changed")
        second = await start(**machine(tmp_path, "two", "node-2"), MONITOR_REPLICA_ID="shared")
        await second.logged("replica_name_in_use")
        assert await second.exited(10) == 1  # it saw the first one beat
        assert "MONITOR_REPLICA_ID" in second.stderr
        await asyncio.sleep(3)  # a lease ttl: a lapse, if one came, has no earlier sign
        assert first.proc.returncode is None
        assert not first.events("replica_name_taken")
        assert not first.events("heartbeat_lapsed")


async def test_a_restarted_process_takes_its_name_back_at_once(
    tmp_path: Path, redis_url: str
) -> None:
    """The killed process's heartbeat would live 20 s on (lease_ttl 30): a restart on the same
    machine must not wait for it, since the name's lock shows the holder dead."""
    env = machine(tmp_path, "one", "node")
    async with cluster(tmp_path, redis_url, lease_ttl=30) as start:
        first = await start(**env)
        await first.logged("lease_changed")
        first.proc.send_signal(signal.SIGKILL)
        await first.exited(10)
        again = await start(**env)
        acquired = await again.logged("lease_changed", within=8)
        assert again.name == first.name
        assert acquired["change"] == "acquired"
        assert not again.events("replica_name_in_use")


async def test_a_dead_process_of_another_machine_is_waited_out_not_refused(
    tmp_path: Path, redis_url: str
) -> None:
    async with cluster(tmp_path, redis_url, lease_ttl=3) as start:
        first = await start(**machine(tmp_path, "one", "node-1"), MONITOR_REPLICA_ID="moved")
        await first.logged("lease_changed")
        first.proc.send_signal(signal.SIGKILL)
        await first.exited(10)
        second = await start(**machine(tmp_path, "two", "node-2"), MONITOR_REPLICA_ID="moved")
        await second.logged("replica_name_in_use")
        acquired = await second.logged("lease_changed", within=10)
        assert acquired["change"] == "acquired"
        assert second.proc.returncode is None


async def test_a_process_whose_name_was_taken_while_paused_stops_and_exits_1(
    tmp_path: Path, redis_url: str
) -> None:
    """Paused past its lapse, the earlier process is taken for dead and a later one starts
    under its name; woken, the earlier one must not idle under it: it stops, exit 1."""
    async with cluster(tmp_path, redis_url, lease_ttl=3) as start:
        earlier = await start(**machine(tmp_path, "one", "node-1"), MONITOR_REPLICA_ID="shared")
        await earlier.logged("lease_changed")
        earlier.proc.send_signal(signal.SIGSTOP)
        later = await start(**machine(tmp_path, "two", "node-2"), MONITOR_REPLICA_ID="shared")
        await later.logged("replica_name_in_use")
        acquired = await later.logged("lease_changed", within=10)  # the earlier one lapsed
        assert acquired["change"] == "acquired"
        earlier.proc.send_signal(signal.SIGCONT)
        assert await earlier.exited(10) == 1
        assert earlier.events("replica_name_taken")
        assert earlier.events("stopping")  # a graceful stop, not an abrupt exit
        assert "MONITOR_REPLICA_ID" in earlier.stderr
        assert "Traceback" not in earlier.stderr
        assert later.proc.returncode is None
        await until(later.readyz, lambda answer: answer[0] == 200, 10)  # it polls on


async def test_a_default_name_alive_on_another_machine_moves_on(
    tmp_path: Path, redis_url: str
) -> None:
    """Two machines of one host name (no shared lock directory), no MONITOR_REPLICA_ID: the
    later process sees the name beat in Redis and takes the next one; both stay up."""
    async with cluster(tmp_path, redis_url, lease_ttl=3) as start:
        first = await start(**machine(tmp_path, "one", "node"))
        await first.logged("lease_changed")
        second = await start(**machine(tmp_path, "two", "node"))
        renamed = await second.logged("replica_renamed")
        assert renamed["replica"] == "node-2"
        await second.logged("standby")
        status, body = await second.readyz()
        assert status == 200
        assert body["standby"]["active"] == ["node"]
        await asyncio.sleep(2)  # most of a lease ttl, with no sign to wait for instead
        for replica in (first, second):
            assert replica.proc.returncode is None
            assert not replica.events("replica_name_taken"), replica.stderr
