"""The real service, ``python -m monitor run``, in a process of its own, and what it costs.

CPU time and resident memory come from ``/proc`` (Linux), so only the service's own work is
counted, not the simulator's or the receiver's in the bench process. Its figures come from its
``/metrics``, and Redis's from ``INFO commandstats``, which counts every command, those that
scripts run included.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
#: How Prometheus asks for ``/metrics``: OpenMetrics preferred, compressed.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
#: How often it scrapes us: the ServiceMonitor's interval (deploy/kubernetes/base).
SCRAPE_EVERY = 30.0
_TICKS = os.sysconf("SC_CLK_TCK")
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} ([0-9.e+-]+)$", re.MULTILINE)
#: The source (or sink) label, wherever the labels' order puts it (they come sorted by name).
_OWNER = re.compile(r'(?:^|,)(?:source|sink)="([^"]*)"')


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class Service:
    process: asyncio.subprocess.Process
    url: str

    def cpu_seconds(self) -> float:
        """User plus system CPU time the service has used so far."""
        return cpu_seconds(self.process.pid)

    def memory(self) -> dict[str, int]:
        """Resident memory now and at its peak, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
        return {"rss": int(values["VmRSS"]) * 1024, "peak_rss": int(values["VmHWM"]) * 1024}

    async def samples(self, metric: str) -> dict[str, float]:
        """One counter or gauge of ``/metrics`` by its source (or sink) label, summed over the
        other labels."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        found: dict[str, float] = {}
        for name, labels, value in _SAMPLE.findall(text):
            if name == metric and (owner := _OWNER.search(labels)) is not None:
                found[owner[1]] = found.get(owner[1], 0.0) + float(value)
        return found

    async def samples_by(self, metric: str) -> dict[str, float]:
        """One counter by the value of its last label (``purpose``, ``tier``, ...), summed."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(metric + "{"):
                labels, value = line[len(metric) + 1 :].rsplit("} ", 1)
                last = labels.rsplit("=", 1)[1].strip('"')
                found[last] = found.get(last, 0.0) + float(value)
        return found

    async def scraped_for(self, seconds: float) -> dict[str, float]:
        """Wait ``seconds`` while Prometheus scrapes, as it would: every ``SCRAPE_EVERY``
        seconds from the start. How many scrapes, the longest, and the bytes of the last."""
        deadline = time.monotonic() + seconds
        scrapes, longest, size = 0, 0.0, 0
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            while (left := deadline - time.monotonic()) > 0:
                began = time.monotonic()
                async with http.get(f"{self.url}/metrics", headers=PROMETHEUS_HEADERS) as answer:
                    size = len(await answer.read())
                took = time.monotonic() - began
                scrapes, longest = scrapes + 1, max(longest, took)
                await asyncio.sleep(min(left, SCRAPE_EVERY) - took)
        return {"scrapes": scrapes, "longest_scrape_s": longest, "scrape_bytes": size}


def config(
    sources: list[dict[str, Any]], hook_url: str, redis_url: str, interval: float
) -> dict[str, Any]:
    return {
        "poll_interval": interval,
        "state_url": redis_url,
        "listen": f"127.0.0.1:{free_port()}",
        "log_level": "warning",
        "log_format": "json",
        "sources": sources,
        "sinks": [{"name": "hook", "type": "webhook", "url": hook_url}],
    }


@asynccontextmanager
async def running(settings: dict[str, Any], workdir: Path) -> AsyncIterator[Service]:
    """Start the service with ``settings`` (a config tree), yield once it answers, stop it."""
    path = workdir / "bench-config.yaml"
    path.write_text(json.dumps(settings))  # JSON is YAML
    log = (workdir / "service.log").open("wb")
    env = {**os.environ, "MONITOR_REPLICA_ID": "bench"}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", "run", "--config", str(path)),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    service = Service(process, f"http://{settings['listen']}")
    try:
        await _answering(service)
        yield service
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def _answering(service: Service) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if service.process.returncode is not None:
                raise RuntimeError(f"the service exited with {service.process.returncode}")
            try:
                async with http.get(f"{service.url}/healthz") as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the service did not answer within 30 s")


async def baselined(service: Service, sources: int, within: float) -> int:
    """Wait until every source has completed a poll (its last success is set), at most
    ``within`` seconds; how many have."""
    deadline = time.monotonic() + within
    while True:
        success = await service.samples("conference_monitor_last_successful_poll_timestamp_seconds")
        done = sum(1 for stamp in success.values() if stamp > 0)
        if done >= sources or time.monotonic() > deadline:
            return done
        await asyncio.sleep(1.0)


def commandstats(client: redis.Redis) -> Counter[str]:
    """Calls per command so far (INFO itself left out)."""
    stats: Any = client.info("commandstats")
    return Counter(
        {
            key.removeprefix("cmdstat_"): int(value["calls"])
            for key, value in stats.items()
            if key != "cmdstat_info"
        }
    )
