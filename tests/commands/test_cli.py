"""The command line, as a user runs it: the real process, its exit code, what it prints.

Every case runs ``python -m monitor`` (or the ``conference-monitor`` script) in a subprocess with
a clean environment, so nothing from the developer's shell (a ``MONITOR_CONFIG``, a
``CANVAS_TOKEN``) changes the outcome. The simulator and webhook receivers run in the test's
own event loop, so those cases start the process with ``asyncio.create_subprocess_exec``.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from monitor import __version__
from monitor.simulator import Simulator
from tests.support.cli import (
    CONFIG,
    FAILURE,
    SCRIPT,
    SIM_TOKEN,
    WHSEC,
    clean_env,
    config_text,
    lines,
    process,
    read_until,
    run_async,
    run_cli,
    wait_ok,
    webhook_sink,
    write,
)
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port
from tests.support.service import until

# exit 78: bad configuration, and the message names the field


BAD_CONFIG = """\
poll_interval: abc
sources:
  - name: main
    base_url: https://canvas.example.edu
    token: t0ken
"""


@pytest.mark.parametrize("command", ["run", "check"])
def test_bad_config_file_exits_78_naming_the_field(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, BAD_CONFIG)
    result = run_cli(command, "--config", str(path))
    assert result.returncode == CONFIG, result.stderr
    assert "poll_interval" in result.stderr
    assert "expected a number" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (BAD_CONFIG.replace("poll_interval: abc\n", "pol_interval: 3\n"), "pol_interval"),
        (BAD_CONFIG.replace("abc", "30").replace("t0ken", "${CANVAS_TOKEN}"), "CANVAS_TOKEN"),
        (BAD_CONFIG.replace("abc", "30").replace("name: main", "name: Main!"), "sources[0].name"),
        ("- just a list\n", "(top level)"),
        ("sources: [\n", "line 2"),
    ],
    ids=["unknown key", "unset variable", "bad name", "a list", "invalid yaml"],
)
def test_config_mistakes_exit_78(tmp_path: Path, text: str, fragment: str) -> None:
    result = run_cli("run", "--config", str(write(tmp_path, text)))
    assert result.returncode == CONFIG, result.stderr
    assert fragment in result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_missing_config_file_exits_78(tmp_path: Path, command: str) -> None:
    path = tmp_path / "missing.yaml"
    result = run_cli(command, "--config", str(path))
    assert result.returncode == CONFIG, result.stderr
    assert str(path) in result.stderr
    assert "--config" in result.stderr


def test_monitor_config_pointing_at_a_bad_file_exits_78(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_CONFIG)
    result = run_cli("run", env=clean_env(MONITOR_CONFIG=str(path)))
    assert result.returncode == CONFIG, result.stderr
    assert "poll_interval" in result.stderr


def test_config_flag_wins_over_monitor_config(tmp_path: Path) -> None:
    good_but_unused = write(tmp_path, BAD_CONFIG.replace("abc", "30"), name="good.yaml")
    bad = write(tmp_path, BAD_CONFIG.replace("abc", "0.01"), name="bad.yaml")
    result = run_cli(
        "check", "--config", str(bad), env=clean_env(MONITOR_CONFIG=str(good_but_unused))
    )
    assert result.returncode == CONFIG, result.stderr
    assert "poll_interval" in result.stderr
    assert "at least 0.1" in result.stderr


def test_monitor_config_pointing_at_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    result = run_cli("run", env=clean_env(MONITOR_CONFIG=str(tmp_path / "missing.yaml")))
    assert result.returncode == CONFIG, result.stderr
    assert "MONITOR_CONFIG" in result.stderr


def test_environment_only_bad_value_exits_78_naming_the_variable() -> None:
    env = clean_env(
        CANVAS_BASE_URL="https://canvas.example.edu", CANVAS_TOKEN="t0ken", POLL_INTERVAL="abc"
    )
    result = run_cli("run", env=env)
    assert result.returncode == CONFIG, result.stderr
    assert "POLL_INTERVAL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_no_configuration_at_all_exits_78_naming_canvas_base_url(command: str) -> None:
    result = run_cli(command)
    assert result.returncode == CONFIG, result.stderr
    assert "CANVAS_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_listen_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = config_text("http://127.0.0.1:9", listen=f"127.0.0.1:{port}")
        result = run_cli("run", "--config", str(write(tmp_path, text)))
    assert result.returncode == FAILURE, result.stderr
    assert "conference-monitor:" in result.stderr
    assert "Traceback" not in result.stderr


# run: a graceful stop on SIGTERM and SIGINT exits 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_stops_gracefully_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    async with Simulator() as sim:
        sim.world.start(sim.world.create_conference(title="Signals").id)
        port = free_port()
        path = write(tmp_path, config_text(sim.url, listen=f"127.0.0.1:{port}"))
        async with process("run", "--config", str(path)) as proc:
            await wait_ok(f"http://127.0.0.1:{port}/readyz", proc)
            proc.send_signal(sig)
            _, err = await asyncio.wait_for(proc.communicate(), 5)
    assert proc.returncode == 0, err.decode()
    log = err.decode()
    assert '"event": "listening"' in log
    assert '"event": "stopping"' in log
    assert '"event": "stopped"' in log
    assert "Traceback" not in log


async def stop_twice(tmp_path: Path) -> tuple[float, int, str]:
    """SIGTERM while a delivery is in flight to a slow receiver (so the graceful stop would
    wait for it), then SIGTERM again; returns how long the second one took, the exit code and
    stderr."""
    async with Simulator() as sim, Receiver() as hook:
        hook.delay = 4.0  # past the checks below; short, since its server waits for it at exit
        port = free_port()
        text = config_text(sim.url, listen=f"127.0.0.1:{port}", sinks=webhook_sink(hook.url))
        path = write(tmp_path, text + "shutdown_timeout: 10\n")
        async with process("run", "--config", str(path)) as proc:
            await wait_ok(f"http://127.0.0.1:{port}/readyz", proc)
            sim.world.start(sim.world.create_conference().id)
            await until(lambda: asyncio.sleep(0, hook.arrived), lambda n: n >= 1)
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            assert proc.returncode is None  # still draining the delivery in flight
            loop = asyncio.get_running_loop()
            second = loop.time()
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 8)
            took = loop.time() - second
            code = await proc.wait()
    return took, code, err.decode()


async def test_second_signal_stops_at_once(tmp_path: Path) -> None:
    took, code, err = await stop_twice(tmp_path)
    assert took < 3, err
    assert code != 0, err  # not a graceful stop


async def test_second_signal_stops_without_a_traceback(tmp_path: Path) -> None:
    _, _, err = await stop_twice(tmp_path)
    assert "Traceback" not in err
    assert "CancelledError" not in err


# check: one line per check, exit 0 only if all pass


async def test_check_passes_against_a_good_canvas_and_store(tmp_path: Path, redis_url: str) -> None:
    async with Simulator() as sim:
        path = write(tmp_path, config_text(sim.url, state_url=redis_url))
        code, out, err = await run_async("check", "--config", str(path))
    assert code == 0, out + err
    source, store = lines(out)
    assert source.startswith("ok")
    assert "source main" in source
    assert "Sim User" in source
    assert store.startswith("ok")
    assert "store" in store
    assert "FAIL" not in out


async def test_check_reads_monitor_config(tmp_path: Path) -> None:
    async with Simulator() as sim:
        path = write(tmp_path, config_text(sim.url))
        code, out, err = await run_async("check", env=clean_env(MONITOR_CONFIG=str(path)))
    assert code == 0, out + err
    assert len(lines(out)) == 2
    assert all(line.startswith("ok") for line in lines(out))


async def test_check_from_the_environment_alone(redis_url: str) -> None:
    async with Simulator() as sim:
        env = clean_env(CANVAS_BASE_URL=sim.url, CANVAS_TOKEN=SIM_TOKEN, REDIS_URL=redis_url)
        code, out, err = await run_async("check", env=env)
    assert code == 0, out + err
    source, store = lines(out)
    assert source.startswith("ok")
    assert "source main" in source
    assert store.startswith("ok")
    assert "redis://127.0.0.1" in store


async def test_check_fails_with_a_revoked_token(tmp_path: Path, redis_url: str) -> None:
    async with Simulator() as sim:
        sim.world.revoke_token(SIM_TOKEN)
        path = write(tmp_path, config_text(sim.url, state_url=redis_url))
        code, out, err = await run_async("check", "--config", str(path))
    assert code == FAILURE, out + err
    source, store = lines(out)
    assert source.startswith("FAIL")
    assert "source main" in source
    assert "401" in source
    assert store.startswith("ok")


async def test_check_fails_when_canvas_is_unreachable(tmp_path: Path) -> None:
    closed = free_port()
    path = write(tmp_path, config_text(f"http://127.0.0.1:{closed}"))
    code, out, err = await run_async("check", "--config", str(path))
    assert code == FAILURE, out + err
    source, store = lines(out)
    assert source.startswith("FAIL")
    assert "source main" in source
    assert store.startswith("ok")


async def test_check_fails_when_the_store_is_unreachable(tmp_path: Path) -> None:
    closed = free_port()
    async with Simulator() as sim:
        path = write(tmp_path, config_text(sim.url, state_url=f"redis://127.0.0.1:{closed}/0"))
        code, out, err = await run_async("check", "--config", str(path))
    assert code == FAILURE, out + err
    source, store = lines(out)
    assert source.startswith("ok")
    assert store.startswith("FAIL")
    assert "store" in store
    assert f"127.0.0.1:{closed}" in store


async def test_check_send_test_delivers_a_signed_test_event(tmp_path: Path, redis_url: str) -> None:
    async with Simulator() as sim, Receiver() as hook:
        text = config_text(sim.url, state_url=redis_url, sinks=webhook_sink(hook.url))
        code, out, err = await run_async(
            "check", "--config", str(write(tmp_path, text)), "--send-test"
        )
    assert code == 0, out + err
    checks = lines(out)
    assert len(checks) == 3
    assert all(line.startswith("ok") for line in checks)
    assert any("sink ops" in line for line in checks)
    (request,) = hook.requests
    payload = Webhook(WHSEC).verify(request.body, request.headers)
    assert payload["type"] == "monitor.test"
    assert request.json["type"] == "monitor.test"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")


async def test_check_without_send_test_sends_nothing(tmp_path: Path) -> None:
    async with Simulator() as sim, Receiver() as hook:
        text = config_text(sim.url, sinks=webhook_sink(hook.url))
        code, out, err = await run_async("check", "--config", str(write(tmp_path, text)))
    assert code == 0, out + err
    assert len(lines(out)) == 2
    assert hook.requests == []


async def test_check_send_test_fails_when_the_receiver_fails(tmp_path: Path) -> None:
    async with Simulator() as sim, Receiver() as hook:
        hook.down = True
        hook.fail_status = 500
        text = config_text(sim.url, sinks=webhook_sink(hook.url))
        code, out, err = await run_async(
            "check", "--config", str(write(tmp_path, text)), "--send-test"
        )
    assert code == FAILURE, out + err
    failed = [line for line in lines(out) if line.startswith("FAIL")]
    assert len(failed) == 1
    assert "sink ops" in failed[0]
    assert "500" in failed[0]
    assert len(hook.requests) == 1  # check tries once; it does not retry


# demo: zero set-up


async def test_demo_serves_and_stops_on_sigint() -> None:
    async with process("demo", "--port", "0") as proc:
        assert proc.stdout is not None
        status = re.compile(r"console\s+(http://\S+/)")
        metrics = re.compile(r"metrics\s+(http://\S+/metrics)")
        started = re.compile(r"\bstarted\s+\[demo\]")
        shown = await read_until(proc.stdout, [status, metrics, started], within=15)
        assert "conference-monitor demo" in shown, shown
        status_match, metrics_match = status.search(shown), metrics.search(shown)
        assert status_match is not None, shown
        assert metrics_match is not None, shown
        assert started.search(shown), shown
        async with aiohttp.ClientSession() as http:
            async with http.get(status_match.group(1)) as response:
                assert response.status == 200
                assert "Conference monitor" in await response.text()
            async with http.get(metrics_match.group(1)) as response:
                assert response.status == 200
                assert "conference_monitor_events_total" in await response.text()
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 5)
    assert proc.returncode == 0, err.decode()


async def test_simulate_serves_a_canvas_and_stops_on_sigint() -> None:
    async with process("simulate", "--port", "0", "--no-script") as proc:
        assert proc.stdout is not None
        where = re.compile(r"Simulated Canvas at (http://\S+)")
        shown = await read_until(proc.stdout, [where], within=10)
        found = where.search(shown)
        assert found is not None, shown
        headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{found.group(1)}/api/v1/users/self", headers=headers) as response,
        ):
            assert response.status == 200
            assert (await response.json())["id"] == 1
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 5)
    assert proc.returncode == 0, err.decode()


# --version and --help


def test_version_from_the_console_script() -> None:
    result = subprocess.run(  # noqa: S603 - our own program
        [str(SCRIPT), "--version"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"conference-monitor {__version__}"


def test_python_m_monitor_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "demo", "simulate", "check"):
        assert command in result.stdout


@pytest.mark.parametrize(("command", "option"), [("run", "--config"), ("check", "--send-test")])
def test_command_help(command: str, option: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert option in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "usage:" in result.stderr
