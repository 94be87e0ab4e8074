"""``python3 dev.py run``, as a person runs it from a terminal, and stops it with Ctrl-C.

A terminal's Ctrl-C sends SIGINT to every process of its foreground process group, and a
supervisor may signal a whole group too. The test starts dev.py in a process group of its own
and signals that group, exactly as the terminal would, or dev.py alone. Whichever way, the
monitor must get one signal and its graceful stop (a delivery in flight to a slow receiver
finishes; ``stopped`` is logged; exit 0), and dev.py must neither kill it nor print a
traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from monitor.simulator import Simulator
from tests.support.cli import clean_env, config_text, wait_ok, webhook_sink, write
from tests.support.paths import ROOT
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port
from tests.support.service import until

DEV = ROOT / "dev.py"

pytestmark = pytest.mark.skipif(
    not (DEV.parent / ".venv" / "bin" / "python").exists(),
    reason="dev.py runs the monitor from .venv; python3 dev.py test makes it",
)


async def stop_during_delivery(tmp_path: Path, send: signal.Signals, *, group: bool) -> str:
    """Start ``dev.py run``, wait for a delivery to be in flight, send ``send`` (to the process
    group when ``group``, as a terminal does, else to dev.py alone); return its stderr."""
    async with Simulator() as sim, Receiver() as hook:
        hook.delay = 2.0  # far beyond the 0.25 s subprocess.call gave the child
        port = free_port()
        text = config_text(sim.url, listen=f"127.0.0.1:{port}", sinks=webhook_sink(hook.url))
        path = write(tmp_path, text + "shutdown_timeout: 10\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(DEV),
            "run",
            "--config",
            str(path),
            env=clean_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )
        try:
            await wait_ok(f"http://127.0.0.1:{port}/readyz", proc, within=30)
            sim.world.start(sim.world.create_conference().id)
            await until(lambda: asyncio.sleep(0, hook.arrived), lambda n: n >= 1)
            if group:
                os.killpg(proc.pid, send)
            else:
                proc.send_signal(send)
            _, err = await asyncio.wait_for(proc.communicate(), 20)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.communicate()
        assert len(hook.delivered) == 1, "the delivery in flight was cut off"
    assert proc.returncode == 0, err.decode()
    return err.decode()


@pytest.mark.parametrize(
    ("send", "group"),
    [
        (signal.SIGINT, True),  # Ctrl-C on a terminal
        (signal.SIGTERM, True),  # systemd's control-group stop, `timeout`, kill -TERM -PGID
        (signal.SIGTERM, False),  # kill PID: dev.py alone
        (signal.SIGINT, False),  # an IDE's stop button, kill -INT PID
        (signal.SIGHUP, False),  # the terminal closed
    ],
    ids=["ctrl-c", "term-group", "term-alone", "int-alone", "hangup"],
)
async def test_a_signal_to_dev_py_run_stops_the_monitor_gracefully(
    tmp_path: Path, send: signal.Signals, group: bool
) -> None:
    err = await stop_during_delivery(tmp_path, send, group=group)
    assert '"event": "stopping"' in err
    assert '"event": "stopped"' in err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert "second signal" not in err  # the monitor got one signal, not two
