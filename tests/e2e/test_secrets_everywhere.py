"""Invariant 6 with every kind of secret configured at once, greped for everywhere.

``test_secrets.py`` pins each leak path on its own; this drives one service that holds all of
them: a Canvas token, a webhook URL whose path is the secret, a ``whsec_`` signing key, an extra
webhook header value, a Slack URL and a Teams URL (each a credential), a Redis password and the
API token. It goes through normal work and through failures (Canvas 5xx and 401, a rejecting
webhook, a failing Slack, a Teams endpoint that is gone), then every place a person or a
program looks is searched for every secret: the logs, ``/metrics``, ``/healthz``, ``/readyz``,
``/api/v1/live`` and the console page (with the token, and the 401s without it), and
``conference-monitor dlq list`` (JSON and table).
"""

from __future__ import annotations

import asyncio
import base64
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp import web

from monitor.config.settings import load_file
from monitor.core.secret import Secret
from monitor.simulator import Simulator
from monitor.store.redis.store import RedisStore
from tests.support.log_capture import captured_logs as capture_logs
from tests.support.receiver import Receiver
from tests.support.redis_server import password_redis
from tests.support.service import get_json, running, until

TOKEN = "canvas-token-Qm7Rt2Lp9x"
HOOK_SECRET = "HookPathSecret4KkZ"
HOOK_PATH = f"/hooks/{HOOK_SECRET}"
SIGNING_KEY = base64.b64encode(b"everywhere-signing-key-0123456789").decode()
WHSEC = f"whsec_{SIGNING_KEY}"
HEADER_VALUE = "header-api-key-Vb8Nc1"
SLACK_SECRET = "SlackSecretXy12Ab"
SLACK_PATH = f"/services/T0AAAA/B0BBBB/{SLACK_SECRET}"
TEAMS_SECRET = "TeamsWorkflowSecret99"
TEAMS_SIG = "TeamsSig-Hh3Jk4Ll5"
TEAMS_PATH = f"/workflows/{TEAMS_SECRET}/triggers/manual/paths/invoke"
REDIS_PASS = "redis-pass-Ee6Ff7Gg"
API_TOKEN = "api-token-Ww2Ss3Dd"
SECRETS = (
    TOKEN,
    HOOK_SECRET,
    WHSEC,
    SIGNING_KEY,
    HEADER_VALUE,
    SLACK_SECRET,
    TEAMS_SECRET,
    TEAMS_SIG,
    REDIS_PASS,
    API_TOKEN,
)
SIM_USER = 1
WITH_TOKEN = ("/api/v1/live", "/api/v1/status")
#: Probes, scrapes, and the console's page (static: it asks for the token itself).
OPEN = ("/metrics", "/healthz", "/readyz", "/")


def assert_no_secret(texts: Iterable[str], where: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in {where}: {text[:3000]}"


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A ``redis-server`` of our own that demands ``REDIS_PASS``."""
    with password_redis(tmp_path_factory.mktemp("everywhere-redis"), REDIS_PASS) as port:
        yield port


@pytest.fixture
def state_url(redis_port: int) -> str:
    client = redis.Redis(port=redis_port, password=REDIS_PASS)
    client.flushall()
    client.close()
    return f"redis://:{REDIS_PASS}@127.0.0.1:{redis_port}/0"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the service, at debug."""
    with capture_logs("debug") as stream:
        yield stream


class EchoingReceiver(Receiver):
    """A receiver whose failures answer like many web frameworks do: quoting the request.

    ``echo`` makes a failing answer's body ``Cannot POST <path and query>`` (Express's words).
    """

    def __init__(self, *, path: str) -> None:
        super().__init__(path=path)
        self.echo = False

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if self.echo and response.status >= 400:
            return web.Response(status=response.status, text=f"Cannot POST {request.path_qs}")
        return response


def config_text(canvas: str, state_url: str, hook: str, slack: str, teams: str) -> str:
    return f"""\
poll_interval: 0.2
log_level: debug
shutdown_timeout: 1
state_url: {state_url}
listen: 127.0.0.1:0
api_token: {API_TOKEN}
sources:
  - name: main
    base_url: {canvas}
    token: {TOKEN}
    request_timeout: 2
    poll_timeout: 5
sinks:
  - name: ops
    type: webhook
    url: {hook}
    secret: {WHSEC}
    headers:
      X-Api-Key: {HEADER_VALUE}
    timeout: 3
    retry_schedule: [0, 0.05]
  - name: slack
    type: slack
    url: {slack}
    group_wait: 0.05
    rate: 50
    retry_schedule: [0, 0.05, 0.1]
  - name: teams
    type: teams
    url: "{teams}"
    group_wait: 0.05
    rate: 50
    retry_schedule: [0, 0.05]
"""


async def fetch_all(http: aiohttp.ClientSession, base: str) -> list[str]:
    """Every page, as a scraper (open paths), a person (with the token) and a stranger sees it."""
    texts = []
    for path, authorization in (
        *((p, None) for p in OPEN),
        *((p, f"Bearer {API_TOKEN}") for p in WITH_TOKEN),
        *((p, None) for p in WITH_TOKEN),
        *((p, f"Bearer {API_TOKEN[:-1]}") for p in WITH_TOKEN),
    ):
        headers = {} if authorization is None else {"Authorization": authorization}
        async with http.get(base + path, headers=headers) as response:
            texts.append(
                f"{path} {response.status} {dict(response.headers)} {await response.text()}"
            )
    return texts


def failing(reason: str | None) -> Any:
    return lambda live: live["sources"][0]["failing"] == reason


async def dead_letters(state_url: Secret) -> int:
    """How many sinks have dead letters (the webhook's rejection, Slack's exhausted retries)."""
    store = RedisStore.from_url(state_url, consumer="leak-test")
    try:
        return len([sink for sink in ("ops", "slack") if await store.dead_letters(sink)])
    finally:
        await store.close()


async def dlq_list(config: Path, *extra: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", "dlq", "list", "--config", str(config), *extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode() + err.decode()


async def drive(
    tmp_path: Path, state_url: str, captured: io.StringIO, *, echo: bool
) -> tuple[list[str], str]:
    """Run the service through its paces; every text a person could see, and the config."""
    texts: list[str] = []
    async with (
        Simulator() as sim,
        Receiver(path=HOOK_PATH) as hook,
        EchoingReceiver(path=SLACK_PATH) as slack,
        EchoingReceiver(path=TEAMS_PATH) as teams,
        aiohttp.ClientSession() as http,
    ):
        slack.echo = teams.echo = echo
        sim.world.add_token(TOKEN, SIM_USER)
        teams_url = f"{teams.url}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sig={TEAMS_SIG}"
        config = tmp_path / "config.yaml"
        config.write_text(config_text(sim.url, state_url, hook.url, slack.url, teams_url))
        settings = load_file(config)
        authorized = {"Authorization": f"Bearer {API_TOKEN}"}

        async def live() -> Any:
            async with http.get(f"{service.url}/api/v1/live", headers=authorized) as response:
                return await response.json()

        async with running(settings) as service:
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            # normal work: a conference starts, every sink gets it
            first = sim.world.create_conference(title="Everywhere check")
            sim.world.start(first.id)
            (started,) = await hook.wait_for(1)
            assert started.headers["x-api-key"] == HEADER_VALUE
            assert "webhook-signature" in started.headers
            await slack.wait_for(1)
            await teams.wait_for(1)
            texts += await fetch_all(http, service.url)

            # Canvas fails: 500s, then recovers
            rule = sim.faults.add("status", status=500, times=None)
            await until(live, failing("http_5xx"), within=15)
            texts += await fetch_all(http, service.url)
            sim.faults.remove(rule)
            await until(live, failing(None), within=10)

            # every receiver fails: the webhook rejects (dead letter), Slack keeps failing
            # (retries run out: dead letter), the Teams endpoint is gone (sink disabled)
            hook.down, hook.fail_status = True, 400
            slack.down, slack.fail_status = True, 500
            teams.down, teams.fail_status = True, 404
            sim.world.end(first.id)
            second = sim.world.create_conference(title="Everywhere again")
            sim.world.start(second.id)

            async def dead() -> Any:
                return await get_json(http, f"{service.url}/readyz")

            await until(
                dead,
                lambda r: any("disabled" in c for c in r["checks"] if c["name"] == "sink:teams"),
                within=10,
            )
            await until(lambda: dead_letters(settings.state_url), lambda n: n >= 2, within=10)
            texts += await fetch_all(http, service.url)

            # the token is revoked: 401
            sim.world.revoke_token(TOKEN)
            await until(live, failing("auth"), within=10)
            texts += await fetch_all(http, service.url)

    texts.append(await dlq_list(config, "--json"))
    texts.append(await dlq_list(config))
    return texts, captured.getvalue()


async def test_every_secret_stays_out_of_every_output(
    tmp_path: Path, state_url: str, captured_logs: io.StringIO
) -> None:
    texts, log = await drive(tmp_path, state_url, captured_logs, echo=False)
    dead_letters = texts[-2]
    assert '"sink": "ops"' in dead_letters  # the rejected webhook event
    assert '"sink": "slack"' in dead_letters  # retries exhausted
    for event in ("listening", "conference.started", "poll_failed", "delivery_failing"):
        assert f'"event": "{event}"' in log, f"no {event} in the logs"
    assert '"reason": "http_5xx"' in log
    assert '"reason": "auth"' in log
    assert any(t.startswith("/metrics 200") for t in texts)
    assert any(t.startswith("/api/v1/live 200") and "Everywhere" in t for t in texts)
    assert any(t.startswith("/api/v1/live 401") for t in texts)
    assert any(t.startswith("/ 200") for t in texts)
    assert_no_secret([log], "the logs")
    assert_no_secret(texts, "the HTTP pages and dlq list")


async def test_a_receiver_that_echoes_its_path_leaks_nothing(
    tmp_path: Path, state_url: str, captured_logs: io.StringIO
) -> None:
    texts, log = await drive(tmp_path, state_url, captured_logs, echo=True)
    assert_no_secret([log], "the logs")
    assert_no_secret(texts, "the HTTP pages and dlq list")
