"""Real processes for the chaos suite: a Redis that stops and starts again on the same port, and
monitor replicas run exactly as in production (``python -m monitor run --config FILE``).

Ports come from below the kernel's ephemeral range. A port that stays closed for a while (Redis
during an outage, a receiver that is down) must not be handed meanwhile to some outgoing
connection, nor to a client that connects to it and so to itself (TCP simultaneous open): both
can happen to an ephemeral port, neither to one below the range.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tests.support.redis_server import redis_server_binary

STOP_WAIT = 15.0  # seconds a stopping process may take before it is killed


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def stable_port() -> int:
    """A free loopback port that the kernel never hands out on its own."""
    floor = _ephemeral_floor()
    for _ in range(200):
        port = random.randrange(max(1025, floor - 12000), floor)  # noqa: S311 - not crypto
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _log_file(path: Path) -> IO[bytes]:
    """Appended to, so the lines of every incarnation of a process stay in one file."""
    return path.open("ab")


async def _wait_or_kill(process: asyncio.subprocess.Process) -> int:
    try:
        return await asyncio.wait_for(process.wait(), STOP_WAIT)
    except TimeoutError:
        process.kill()
        return await process.wait()


class RedisProcess:
    """``redis-server`` with ``appendonly yes``: a stop and a start keep every key."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = stable_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        with _log_file(self.directory / "redis.log") as log:
            self.process = await asyncio.create_subprocess_exec(
                redis_server_binary(),
                "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "no",
                "--dir", str(self.directory), "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec",
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        client = aioredis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            for _ in range(200):
                with contextlib.suppress(RedisError, OSError):
                    if await client.ping():
                        return
                if self.process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    async def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await _wait_or_kill(self.process)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class Replica:
    """One ``monitor run`` process; a restart keeps its name, port and log file."""

    def __init__(self, name: str, config: Path, logs: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.port = stable_port()
        self.config = config
        self.log_path = logs / f"{name}.log"
        self._env = {**env, "MONITOR_REPLICA_ID": name, "CHAOS_LISTEN": f"127.0.0.1:{self.port}"}
        self.process: asyncio.subprocess.Process | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        with _log_file(self.log_path) as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", "run", "--config", str(self.config),
                env={**os.environ, **self._env}, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        self.paused = False

    def _signal(self, sig: signal.Signals) -> asyncio.subprocess.Process:
        if self.process is None or self.process.returncode is not None:
            raise RuntimeError(f"{self.name} is not running")
        self.process.send_signal(sig)
        return self.process

    async def kill(self) -> None:
        """SIGKILL: no goodbye, no lease handed back, deliveries cut mid-request."""
        await self._signal(signal.SIGKILL).wait()
        self.paused = False

    async def terminate(self) -> int:
        if self.paused:
            self.resume()
        return await _wait_or_kill(self._signal(signal.SIGTERM))

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self.paused = False

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
