"""Who can reach the HTTP API: loopback by default, and a bearer token when ``api_token`` is set.

The whole service runs in-process against the simulator. With ``api_token``, ``/api/v1/live``
and any unknown path answer 401 (with ``WWW-Authenticate: Bearer``) unless the request carries
``Authorization: Bearer <token>``; ``/metrics``, ``/healthz`` and ``/readyz`` stay open for
probes and scrapers, and the console's page and assets for browsers (it asks for the token
itself), and none shows a conference title. The token is never echoed.
"""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.config.fields import DEFAULT_LISTEN
from monitor.config.settings import Listen, Settings, from_environment, parse
from monitor.core.secret import Secret
from monitor.simulator import Simulator
from tests.support.service import Running, get_json, running, settings_for, source_config, until

API_TOKEN = "api-token-Zq81xW3v"
NEAR_MISS = API_TOKEN[:-1] + "X"
TITLE = "Secret seminar 8d1f"
CONFERENCE_ID = 987_654_321
PROTECTED = ("/api/v1/live", "/api/v1/other", "/nope", "/console/nope.js")
#: Probes and scrapes, and the console's page and assets: they hold no data (web/console.py).
OPEN = ("/metrics", "/healthz", "/readyz", "/", "/console/console.js", "/console/console.css")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        simulator.world.start(
            simulator.world.create_conference(title=TITLE, conference_id=CONFERENCE_ID).id
        )
        yield simulator


def protected_settings(sim: Simulator) -> Settings:
    return replace(settings_for((source_config(sim.url),)), api_token=Secret(API_TOKEN))


async def fetch(
    http: aiohttp.ClientSession, url: str, authorization: str | None = None
) -> tuple[int, dict[str, str], str]:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with http.get(url, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


async def ready(http: aiohttp.ClientSession, service: Running) -> None:
    await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])


async def test_protected_paths_need_the_bearer_token(sim: Simulator) -> None:
    async with running(protected_settings(sim)) as service, aiohttp.ClientSession() as http:
        await ready(http, service)
        seen: list[str] = []
        for path in PROTECTED:
            url = service.url + path
            for authorization in (
                None,
                "",
                f"Bearer {NEAR_MISS}",
                f"Bearer {API_TOKEN}x",
                f"Bearer {API_TOKEN[:5]}",
                f"Basic {API_TOKEN}",
                API_TOKEN,
                f"Token {API_TOKEN}",
                "Bearer",
                "Bearer ünïcödé",
            ):
                status, headers, body = await fetch(http, url, authorization)
                assert status == 401, (path, authorization, body)
                assert headers["WWW-Authenticate"].startswith("Bearer")
                assert json.loads(body)["error"] == "unauthorized"
                assert TITLE not in body
                seen += [body, repr(headers)]
            status, _, body = await fetch(http, url, f"Bearer {API_TOKEN}")
            assert status == (200 if path == "/api/v1/live" else 404), path
            seen.append(body)
            status, _, _ = await fetch(http, url, f"bearer  {API_TOKEN} ")  # scheme: any case
            assert status in (200, 404)

        live = json.loads(
            (await fetch(http, service.url + "/api/v1/live", f"Bearer {API_TOKEN}"))[2]
        )
        assert [c["title"] for c in live["sources"][0]["conferences"]] == [TITLE]
    for text in seen:
        assert API_TOKEN not in text
        assert NEAR_MISS not in text
        assert API_TOKEN[:5] + '"' not in text


async def test_a_wrong_token_is_told_apart_from_none(sim: Simulator) -> None:
    async with running(protected_settings(sim)) as service, aiohttp.ClientSession() as http:
        _, none, _ = await fetch(http, service.url + "/api/v1/live")
        _, wrong, _ = await fetch(http, service.url + "/api/v1/live", f"Bearer {NEAR_MISS}")
    assert none["WWW-Authenticate"] == 'Bearer realm="conference-monitor"'
    assert wrong["WWW-Authenticate"] == 'Bearer realm="conference-monitor", error="invalid_token"'


async def test_probes_metrics_and_the_console_page_stay_open_and_show_no_title(
    sim: Simulator,
) -> None:
    async with running(protected_settings(sim)) as service, aiohttp.ClientSession() as http:
        await ready(http, service)
        for path in OPEN:
            status, _, body = await fetch(http, service.url + path)
            assert status == 200, (path, body)
            assert TITLE not in body
            assert API_TOKEN not in body
            assert str(CONFERENCE_ID) not in body


async def test_the_comparison_is_constant_time(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with running(protected_settings(sim)) as service, aiohttp.ClientSession() as http:
        live = service.url + "/api/v1/live"
        assert (await fetch(http, live, f"Bearer {API_TOKEN}"))[0] == 200
        assert (await fetch(http, live, f"Bearer {NEAR_MISS}"))[0] == 401
    assert (NEAR_MISS.encode(), API_TOKEN.encode()) in compared
    assert (API_TOKEN.encode(), API_TOKEN.encode()) in compared


async def test_without_api_token_everything_is_open(sim: Simulator) -> None:
    async with (
        running(settings_for((source_config(sim.url),))) as service,
        aiohttp.ClientSession() as http,
    ):
        await ready(http, service)
        for path in ("/api/v1/live", *OPEN):
            assert (await fetch(http, service.url + path))[0] == 200, path


def test_api_token_is_read_from_the_config_and_hidden(tmp_path: Path) -> None:
    source = {"name": "main", "base_url": "https://canvas.example.edu", "token": "t0k3n-abcd"}
    settings = parse({"sources": [source], "api_token": API_TOKEN})
    assert settings.api_token == Secret(API_TOKEN)
    assert API_TOKEN not in repr(settings)
    assert parse({"sources": [source]}).api_token is None


# listening: loopback unless configured otherwise


def test_listen_defaults_to_loopback() -> None:
    assert Listen("127.0.0.1", 9464) == DEFAULT_LISTEN
    source = {"name": "main", "base_url": "https://canvas.example.edu", "token": "t0k3n-abcd"}
    assert parse({"sources": [source]}).listen == DEFAULT_LISTEN
    env = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN": "t0k3n-abcd"}
    assert from_environment(env).listen == DEFAULT_LISTEN


def listening_addresses(port: int) -> set[str] | None:
    """Local addresses of the listening TCP sockets on ``port`` (Linux ``/proc/net/tcp*``);
    None where there is no ``/proc``."""
    if not Path("/proc/net/tcp").exists():
        return None
    found: set[str] = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            family = socket.AF_INET if size == 4 else socket.AF_INET6
            found.add(socket.inet_ntop(family, words))
    return found


async def test_the_default_host_binds_loopback_only(sim: Simulator) -> None:
    """The default ``listen`` host, on a free port: nothing but 127.0.0.1 accepts."""
    settings = replace(
        settings_for((source_config(sim.url),)), listen=Listen(DEFAULT_LISTEN.host, 0)
    )
    async with running(settings) as service, aiohttp.ClientSession() as http:
        assert service.url.startswith("http://127.0.0.1:")
        port = int(service.url.rsplit(":", 1)[1])
        assert (await fetch(http, f"http://127.0.0.1:{port}/healthz"))[0] == 200
        assert listening_addresses(port) in ({"127.0.0.1"}, None)
        # Another loopback address of the same machine: refused, so not bound to 0.0.0.0.
        with pytest.raises(aiohttp.ClientConnectionError):
            await fetch(http, f"http://127.0.0.2:{port}/healthz")
