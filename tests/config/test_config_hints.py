"""What a newcomer is told when the set-up is wrong, or runs but is probably not what was meant:
errors in the words of the set-up they used (file keys or environment variables), and warnings
logged once at start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.commands.demo import demo_settings
from monitor.config.settings import from_environment, parse
from monitor.core.errors import ConfigError
from monitor.simulator import Simulator
from tests.support.cli import CONFIG, config_text, process, run_cli, wait_ok, write
from tests.support.redis_server import free_port

TOKEN = "hint-test-token-5e6f"
BASE_ENV = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN": TOKEN}
SINK = {"name": "ops", "type": "webhook", "url": "https://hooks.example.edu/x"}


def source(**keys: Any) -> dict[str, Any]:
    return {"name": "main", "base_url": "https://canvas.example.edu", "token": TOKEN, **keys}


def error_of(raw: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    return caught.value


# the token: the keys of a file, the variables of the environment


@pytest.mark.parametrize(
    "env",
    [
        {"CANVAS_BASE_URL": "https://canvas.example.edu"},
        {**BASE_ENV, "CANVAS_TOKEN_FILE": "/run/secrets/canvas-token"},
    ],
    ids=["neither", "both"],
)
def test_environment_token_errors_name_the_variables(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment(env)
    assert caught.value.field == "CANVAS_TOKEN"
    assert caught.value.message == "set exactly one of CANVAS_TOKEN or CANVAS_TOKEN_FILE"


def test_file_token_errors_name_the_keys() -> None:
    error = error_of({"sources": [source(token=None)]})
    assert str(error) == "sources[0].token: set exactly one of token or token_file"


# listen: a port out of range is said to be one


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1:65536", "[::1]:70000"])
def test_listen_port_out_of_range(listen: str) -> None:
    error = error_of({"listen": listen, "sources": [source()]})
    assert error.field == "listen"
    assert "out of range" in error.message
    assert "1-65535" in error.message


@pytest.mark.parametrize(("listen", "port"), [("127.0.0.1:65535", 65535), ("127.0.0.1:0", 0)])
def test_listen_port_limits_still_accepted(listen: str, port: int) -> None:
    assert parse({"listen": listen, "sources": [source()]}).listen.port == port


def test_environment_listen_out_of_range_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, "LISTEN": "127.0.0.1:99999"})
    assert caught.value.field == "LISTEN"
    assert "out of range" in caught.value.message


# base_url: the monitor adds /api/v1 itself


@pytest.mark.parametrize(
    "url",
    [
        "https://canvas.example.edu/api/v1",
        "https://canvas.example.edu/api/v1/",
        "https://canvas.example.edu/API/V1",
        "https://example.edu/canvas/api/v1/",
        "https://canvas.example.edu/api/v1/courses/101",
    ],
)
def test_base_url_with_the_api_path_is_refused(url: str) -> None:
    error = error_of({"sources": [source(), source(name="second", base_url=url)]})
    assert error.field == "sources[1].base_url"
    assert "drop /api/v1" in error.message


@pytest.mark.parametrize(
    "url", ["https://canvas.example.edu/canvas", "https://canvas.example.edu/api/v10"]
)
def test_other_base_paths_are_kept(url: str) -> None:
    assert parse({"sources": [source(base_url=url)]}).sources[0].base_url == url


def test_base_url_with_the_api_path_exits_78(tmp_path: Path) -> None:
    path = write(tmp_path, config_text("https://canvas.example.edu/api/v1/"))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == CONFIG, result.stderr
    assert "sources[0].base_url: drop /api/v1" in result.stderr


def test_environment_base_url_with_the_api_path_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, "CANVAS_BASE_URL": "https://canvas.example.edu/api/v1"})
    assert caught.value.field == "CANVAS_BASE_URL"


# warnings: no sink, a token in clear text


def no_sinks(warnings: tuple[str, ...]) -> list[str]:
    return [w for w in warnings if w.startswith("no sinks")]


def test_no_sink_warns_that_events_go_nowhere() -> None:
    (warning,) = no_sinks(parse({"sources": [source()]}).warnings)
    assert "sent nowhere" in warning
    assert no_sinks(parse({"sources": [source()], "sinks": []}).warnings) == [warning]
    assert no_sinks(from_environment(BASE_ENV).warnings) == [warning]


def test_a_sink_silences_the_warning() -> None:
    assert parse({"sources": [source()], "sinks": [SINK]}).warnings == ()
    assert from_environment({**BASE_ENV, "SLACK_WEBHOOK_URL": SINK["url"]}).warnings == ()


def test_demo_has_a_sink_and_no_warning() -> None:
    settings = demo_settings("http://127.0.0.1:8900", 0)
    assert settings.sinks
    assert settings.warnings == ()


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://canvas.example.edu", True),
        ("http://10.0.0.5:8080", True),
        ("http://[2001:db8::1]", True),
        ("https://canvas.example.edu", False),
        ("http://127.0.0.1:8900", False),
        ("http://127.10.0.1", False),
        ("http://localhost:8900", False),
        ("http://[::1]:8900", False),
    ],
)
def test_http_canvas_warns_that_the_token_travels_in_clear(url: str, warned: bool) -> None:
    raw = {"sources": [source(name="campus", base_url=url)], "sinks": [SINK]}
    warnings = parse(raw).warnings
    if warned:
        (warning,) = warnings
        assert "campus" in warning
        assert "clear text" in warning
        assert TOKEN not in warning
    else:
        assert warnings == ()


async def test_run_logs_the_warnings_once_at_start(tmp_path: Path) -> None:
    """The real process: a loopback Canvas and no sink warns of the sink only."""
    async with Simulator() as sim:
        port = free_port()
        text = config_text(sim.url, listen=f"127.0.0.1:{port}").replace("0.2", "5", 1)
        async with process("run", "--config", str(write(tmp_path, text))) as proc:
            await wait_ok(f"http://127.0.0.1:{port}/readyz", proc)
            proc.terminate()
            _, err = await asyncio.wait_for(proc.communicate(), 10)
    records = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    warnings = [r["message"] for r in records if r.get("event") == "config_warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("no sinks")
