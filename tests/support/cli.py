"""Running the monitor as a person does: the real process with a clean environment, a config
file written for the test, and ways to wait for what it prints or serves.

Shared by every test that starts ``python -m monitor`` (``commands/test_cli.py`` and the
tests of config hints, connection errors, replica processes, dev.py and the simulator's docs).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from monitor.core.errors import ExitCode

MONITOR = (sys.executable, "-m", "monitor")
SCRIPT = Path(sys.executable).with_name("conference-monitor")
SIM_TOKEN = "sim-token"
WHSEC = "whsec_" + base64.b64encode(b"cli-test-signing-key-0123456789ab").decode()
CONFIG = int(ExitCode.CONFIG)
FAILURE = int(ExitCode.FAILURE)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback HOME
    }
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own program
        [*MONITOR, *args],
        env=clean_env() if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def config_text(
    canvas_url: str,
    *,
    token: str = SIM_TOKEN,
    state_url: str = "memory://",
    listen: str = "127.0.0.1:0",
    sinks: str = "",
) -> str:
    return (
        f"poll_interval: 0.2\n"
        f"state_url: {state_url}\n"
        f"listen: {listen}\n"
        f"sources:\n"
        f"  - name: main\n"
        f"    base_url: {canvas_url}\n"
        f"    token: {token}\n"
        f"    request_timeout: 2\n"
        f"    poll_timeout: 5\n"
        f"{sinks}"
    )


def webhook_sink(url: str, secret: str | None = WHSEC) -> str:
    text = f"sinks:\n  - name: ops\n    type: webhook\n    url: {url}\n    timeout: 3\n"
    return text + (f"    secret: {secret}\n" if secret else "")


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@asynccontextmanager
async def process(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The monitor as a child process; killed (and reaped) if the test leaves it running."""
    proc = await asyncio.create_subprocess_exec(
        *MONITOR,
        *args,
        env=clean_env() if env is None else env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()


async def run_async(
    *args: str, env: dict[str, str] | None = None, within: float = 30
) -> tuple[int, str, str]:
    async with process(*args, env=env) as proc:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def wait_ok(url: str, proc: asyncio.subprocess.Process, within: float = 10.0) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: object = None
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.returncode is None, f"the process exited with {proc.returncode}"
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    last = response.status
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
            if loop.time() > deadline:
                raise AssertionError(f"{url} not 200 within {within}s; last: {last!r}")
            await asyncio.sleep(0.05)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


async def read_until(
    stream: asyncio.StreamReader, wanted: Sequence[re.Pattern[str]], within: float
) -> str:
    """Read lines until every pattern has matched some line; return what was read."""
    seen = ""
    async with asyncio.timeout(within):
        while not all(p.search(seen) for p in wanted):
            line = await stream.readline()
            if not line:
                break
            seen += line.decode()
    return seen
