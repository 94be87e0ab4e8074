"""What a newcomer sees in the first hour, from the real process: each event printed once on a
terminal, a readable test event, ``dlq`` with nothing but the store, a store failure that names
the server once.

"On a terminal" is a real pseudo-terminal (``os.openpty``) as the process's stdout and stderr,
so the log renderer and the console sink decide as they would in a person's shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from monitor.core.secret import Secret
from monitor.simulator import Simulator
from monitor.store.redis.store import RedisStore
from tests.support.canvas_helpers import LIVE
from tests.support.cli import (
    CONFIG,
    FAILURE,
    MONITOR,
    clean_env,
    config_text,
    lines,
    process,
    run_async,
    write,
)
from tests.support.delivery_helpers import started
from tests.support.redis_server import free_port
from tests.support.service import until

CONSOLE_SINK = "sinks:\n  - name: screen\n    type: console\n"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal:
    """A pseudo-terminal whose screen (everything written to it) the test can read."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self._seen = bytearray()
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError as exc:  # EIO: every writer has closed its end
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self._seen += data
        self._changed.set()

    @property
    def text(self) -> str:
        return _ANSI.sub("", self._seen.decode(errors="replace"))

    async def shows(self, wanted: str, within: float) -> None:
        async with asyncio.timeout(within):
            while wanted not in self.text:
                self._changed.clear()
                await self._changed.wait()

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.master)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


async def polls_answered(sim: Simulator, count: int, within: float = 10.0) -> None:
    """Wait until the simulator has answered ``count`` polls of the live list (a poll that
    began after another was answered: that one's outcome is committed)."""
    await until(lambda: asyncio.sleep(0, sim.requests.count(LIVE)), lambda n: n >= count, within)


async def on_a_terminal(tmp_path: Path, sinks: str, title: str) -> str:
    """Run with ``sinks`` on a pseudo-terminal, start a conference titled ``title`` once the
    baseline is taken; return the screen a second after it first shows."""
    async with Simulator() as sim:
        path = write(tmp_path, config_text(sim.url, sinks=sinks))
        term = Terminal()
        try:
            proc = await asyncio.create_subprocess_exec(
                *MONITOR,
                "run",
                "--config",
                str(path),
                env=clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=term.slave,
                stderr=term.slave,
            )
            try:
                await term.shows("listening", within=15)
                await polls_answered(sim, 2)  # the baseline is taken without it
                conference = sim.world.create_conference(title=title)
                sim.world.start(conference.id)
                await term.shows(title, within=10)
                # Five more polls: a second line would be out by now.
                await polls_answered(sim, sim.requests.count(LIVE) + 5)
            finally:
                proc.send_signal(signal.SIGINT)
                await asyncio.wait_for(proc.wait(), 10)
            return term.text
        finally:
            term.close()


async def test_run_on_a_terminal_prints_each_event_once(tmp_path: Path) -> None:
    screen = await on_a_terminal(tmp_path, CONSOLE_SINK, "Terminal Office Hours")
    assert screen.count("Terminal Office Hours") == 1, screen
    (shown,) = [line for line in screen.splitlines() if "Terminal Office Hours" in line]
    assert re.search(r"started\s+\[main\] 'Terminal Office Hours'", shown), shown  # the sink's
    assert "listening" in screen  # the log still says what the service does


async def test_a_console_sink_that_filters_leaves_the_log_line(tmp_path: Path) -> None:
    """A console sink for ends only: the start is on screen once, as the log's line."""
    sinks = CONSOLE_SINK + "    events: [conference.ended]\n"
    screen = await on_a_terminal(tmp_path, sinks, "Filtered Office Hours")
    (shown,) = [line for line in screen.splitlines() if "Filtered Office Hours" in line]
    assert "conference.started" in shown, shown  # the log's line, not the sink's


async def test_json_logs_keep_the_event_line_for_machines(tmp_path: Path) -> None:
    async with Simulator() as sim:
        path = write(tmp_path, config_text(sim.url, sinks=CONSOLE_SINK))
        async with process("run", "--config", str(path)) as proc:
            assert proc.stdout is not None
            conference = sim.world.create_conference(title="Piped Office Hours")
            await polls_answered(sim, 2)  # the baseline is taken without it
            sim.world.start(conference.id)
            async with asyncio.timeout(10):
                while b"Piped Office Hours" not in await proc.stdout.readline():
                    pass
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 10)
    logged = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    (event,) = [line for line in logged if line["event"] == "conference.started"]
    assert (event["level"], event["title"]) == ("info", "Piped Office Hours")


async def test_check_send_test_through_a_console_sink_reads_well(tmp_path: Path) -> None:
    async with Simulator() as sim:
        path = write(tmp_path, config_text(sim.url, sinks=CONSOLE_SINK))
        code, out, err = await run_async("check", "--config", str(path), "--send-test")
    assert code == 0, out + err
    (shown,) = [line for line in lines(out) if "test event from" in line]
    assert re.fullmatch(
        r"\S+Z  test     \[screen\] test event from conference-monitor check", shown
    ), shown
    assert "?" not in shown
    assert "None" not in shown


# dlq: it needs the store, and only the store


def test_dlq_without_any_configuration_says_what_it_needs() -> None:
    result = subprocess.run(  # noqa: S603 - our own program
        [*MONITOR, "dlq", "list"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == CONFIG, result.stderr
    for needed in ("--config", "MONITOR_CONFIG", "STATE_URL", "REDIS_URL"):
        assert needed in result.stderr
    assert "demo" not in result.stderr
    assert "CANVAS_BASE_URL" not in result.stderr


@pytest.fixture
async def buried(redis_url: str) -> str:
    """One dead letter for the sink ``ops`` and one for ``webhook``; the first's event id."""
    store = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
    try:
        await store.open_outbox(["ops", "webhook"], ["main"])
        outcome = started("main", 1)
        await store.commit("main", 0, outcome)
        for sink in ("ops", "webhook"):
            entries = await store.read(sink, 10, 0.1)
            await store.dead_letter(sink, entries, "rejected: HTTP 422", 1)
    finally:
        await store.close()
    return outcome.events[0].id


@pytest.mark.parametrize("variable", ["STATE_URL", "REDIS_URL", "STATE_URL_FILE", "REDIS_URL_FILE"])
async def test_dlq_with_only_the_store_url(
    redis_url: str, buried: str, variable: str, tmp_path: Path
) -> None:
    value = redis_url
    if variable.endswith("_FILE"):
        value = str(write(tmp_path, redis_url + "\n", "state-url"))
    code, out, err = await run_async(
        "dlq", "list", "--sink", "ops", env=clean_env(**{variable: value})
    )
    assert code == 0, err
    (row,) = [line for line in out.splitlines() if line.startswith("ops ")]
    assert buried in row
    assert "rejected: HTTP 422" in row


async def test_dlq_with_the_store_url_finds_the_environments_sinks(
    redis_url: str, buried: str
) -> None:
    env = clean_env(STATE_URL=redis_url, WEBHOOK_URL="http://127.0.0.1:9/hook")
    code, out, err = await run_async("dlq", "list", "--json", env=env)
    assert code == 0, err
    assert [(row["sink"], row["event_id"]) for row in json.loads(out)] == [("webhook", buried)]


async def test_dlq_with_the_store_url_and_no_sink_asks_for_one(redis_url: str) -> None:
    code, _, err = await run_async("dlq", "list", env=clean_env(STATE_URL=redis_url))
    assert code == CONFIG, err
    assert "--sink" in err


async def test_check_names_a_store_that_is_down_once(tmp_path: Path) -> None:
    closed = free_port()
    async with Simulator() as sim:
        text = config_text(sim.url, state_url=f"redis://127.0.0.1:{closed}/0")
        code, out, err = await run_async("check", "--config", str(write(tmp_path, text)))
    assert code == FAILURE, out + err
    (store,) = [line for line in lines(out) if "store" in line]
    assert store.startswith("FAIL")
    assert store.count(f"redis://127.0.0.1:{closed}") == 1, store
