"""TLS is verified on every outgoing request, and ``ca_file`` trusts a private CA.

Real HTTPS servers on loopback: the simulator and webhook receivers served with certificates
from a test CA (``trustme``). Without ``ca_file`` the system's trust store does not know that
CA, so verification fails (it is on by default); with ``ca_file`` naming the CA's bundle the
same requests succeed. A certificate for another host fails even with the right CA. Failures
end the poll as ``connection`` (never a crash), are not retried (retrying cannot fix them), and
say what failed without a URL path or a secret.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline, Lane
from monitor.commands.checks import test_entry as make_test_entry
from monitor.config.settings import SinkType, parse
from monitor.core.errors import CanvasError, ConfigError, PollFailure
from monitor.core.secret import Secret
from monitor.core.tls import client_tls
from monitor.delivery.sinks import ChatSink, WebhookSink
from monitor.delivery.sinks.base import Verdict
from monitor.observe.metrics import Metrics
from monitor.simulator import RequestLog, World, create_app
from monitor.store.memory import MemoryStore
from monitor.watch.poller import Poller
from tests.support.canvas_helpers import LIVE, sample
from tests.support.receiver import Receiver
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

TOKEN = "tls-test-token-4b1c9d"
HOOK_PATH = "/hook/TLS-SECRET-PATH-77"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_tls(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@pytest.fixture(scope="module")
def loopback_tls(ca: trustme.CA) -> ssl.SSLContext:
    return server_tls(ca, "127.0.0.1", "localhost")


@asynccontextmanager
async def https_canvas(
    context: ssl.SSLContext, world: World, requests: RequestLog | None = None
) -> AsyncIterator[str]:
    """The simulator's app served over HTTPS on loopback; yields its base URL."""
    runner = web.AppRunner(create_app(world, requests=requests), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def live_world() -> World:
    world = World()
    world.add_token(TOKEN, 1)
    world.start(world.create_conference(title="Over TLS").id)
    return world


def client_for(session: aiohttp.ClientSession, url: str, metrics: Metrics, **kw: Any) -> Any:
    source = source_config(url, token=Secret(TOKEN), **kw)
    return CanvasClient(session, source, Lane(1000), metrics)


def no_secret(text: str) -> None:
    for secret in (TOKEN, HOOK_PATH, "TLS-SECRET-PATH-77"):
        assert secret not in text


# settings to contexts


def test_no_ca_file_means_the_system_trust_store(ca_file: str) -> None:
    assert client_tls(None, "ca_file") is True  # aiohttp's default: verified, system CAs
    context = client_tls(ca_file, "ca_file")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs()  # the bundle's CA, loaded


def test_a_ca_file_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    settings = parse(
        {
            "sources": [
                {
                    "name": "main",
                    "base_url": "https://canvas.example.edu",
                    "token": TOKEN,
                    "ca_file": str(bad),
                }
            ],
            "sinks": [
                {"name": "ops", "type": "webhook", "url": f"https://h.example{HOOK_PATH}"},
                {"name": "chat", "type": "slack", "url": f"https://h.example{HOOK_PATH}"},
            ],
        }
    )  # the config check only looks for a PEM header; loading it is the client's job
    session: Any = None  # never used: the constructors fail first
    with pytest.raises(ConfigError) as source_error:
        CanvasClient(session, settings.sources[0], Lane(1), Metrics(["main"], []))
    assert source_error.value.field == "ca_file of source 'main'"
    assert str(bad) in str(source_error.value)
    for sink in settings.sinks:
        with pytest.raises(ConfigError) as sink_error:
            (WebhookSink if sink.type is SinkType.WEBHOOK else ChatSink)(
                replace(sink, ca_file=str(bad)), session
            )
        assert sink_error.value.field == f"ca_file of sink {sink.name!r}"
        no_secret(str(sink_error.value))
    no_secret(str(source_error.value))


async def test_run_with_an_unloadable_ca_file_exits_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "listen: 127.0.0.1:0\nsources:\n  - name: main\n    base_url: https://canvas.example.edu\n"
        f"    token: {TOKEN}\n    ca_file: {bad}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "monitor", "run", "--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 78, err.decode()
    assert "ca_file of source 'main'" in err.decode()
    no_secret(out.decode() + err.decode())


# Canvas over HTTPS


async def test_canvas_tls_is_verified_by_default(loopback_tls: ssl.SSLContext) -> None:
    requests = RequestLog()
    metrics = Metrics(["main"], [])
    async with (
        https_canvas(loopback_tls, live_world(), requests) as url,
        aiohttp.ClientSession() as session,
    ):
        with pytest.raises(CanvasError) as caught:
            await client_for(session, url, metrics).live(Deadline(5))
    error = caught.value
    assert error.reason is PollFailure.CONNECTION
    assert str(error).startswith(f"{LIVE}: TLS certificate not accepted (")
    assert "local issuer" in str(error)  # OpenSSL's words: the CA is unknown
    assert len(requests) == 0  # nothing reached Canvas: the token never left
    code = sample(
        metrics, "conference_monitor_canvas_requests_total", source="main", code="connection"
    )
    assert code == 1  # not retried: retrying cannot fix a certificate
    no_secret(str(error))


async def test_canvas_with_its_ca_file_succeeds(loopback_tls: ssl.SSLContext, ca_file: str) -> None:
    async with (
        https_canvas(loopback_tls, live_world()) as url,
        aiohttp.ClientSession() as session,
    ):
        client = client_for(session, url, Metrics(["main"], []), ca_file=ca_file)
        (conference,) = await client.live(Deadline(5))
        assert conference.title == "Over TLS"
        assert (await client.whoami(Deadline(5)))["id"] == 1


async def test_a_certificate_for_another_host_is_refused(ca: trustme.CA, ca_file: str) -> None:
    requests = RequestLog()
    async with (
        https_canvas(server_tls(ca, "canvas.example.edu"), live_world(), requests) as url,
        aiohttp.ClientSession() as session,
    ):
        client = client_for(session, url, Metrics(["main"], []), ca_file=ca_file)
        with pytest.raises(CanvasError) as caught:
            await client.live(Deadline(5))
    assert caught.value.reason is PollFailure.CONNECTION
    assert "mismatch" in str(caught.value)  # "IP address mismatch, certificate is not valid..."
    assert len(requests) == 0


async def test_plain_http_behind_an_https_url_fails_as_connection(
    loopback_tls: ssl.SSLContext,
) -> None:
    """A handshake failure (the server does not speak TLS) is a connection failure too."""
    world = live_world()
    runner = web.AppRunner(create_app(world), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"https://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            client = client_for(session, url, Metrics(["main"], []), request_timeout=1.0)
            with pytest.raises(CanvasError) as caught:
                await client.live(Deadline(3))
    finally:
        await runner.cleanup()
    assert caught.value.reason is PollFailure.CONNECTION
    assert "TLS handshake failed" in str(caught.value)


async def test_poller_fails_the_poll_as_connection_and_keeps_going(
    loopback_tls: ssl.SSLContext, ca_file: str
) -> None:
    metrics = Metrics(["main"], [])
    store = MemoryStore()
    async with (
        https_canvas(loopback_tls, live_world()) as url,
        aiohttp.ClientSession() as session,
    ):
        untrusted = source_config(url, token=Secret(TOKEN))
        poller = Poller(
            untrusted,
            CanvasClient(session, untrusted, Lane(1000), metrics),
            store,
            metrics,
            interval=1.0,
        )
        assert not await poller.poll_once()
        assert not await poller.poll_once()
        assert poller.failing is PollFailure.CONNECTION
        assert poller.last_error is not None
        assert "TLS certificate not accepted" in poller.last_error
        no_secret(poller.last_error)
        failures = sample(
            metrics, "conference_monitor_poll_failures_total", source="main", reason="connection"
        )
        assert failures == 2
        assert (await store.load("main")).version == 0  # nothing committed

        trusted = replace(untrusted, ca_file=ca_file)
        fixed = Poller(
            trusted,
            CanvasClient(session, trusted, Lane(1000), metrics),
            store,
            metrics,
            interval=1.0,
        )
        assert await fixed.poll_once()
        assert [c.title for c in fixed.state.live()] == ["Over TLS"]


# receivers over HTTPS


def entry_of_test() -> Any:
    return make_test_entry(webhook_config("https://unused.example/hook"))


async def test_webhook_sink_verifies_tls_and_trusts_its_ca_file(
    loopback_tls: ssl.SSLContext, ca_file: str
) -> None:
    async with (
        Receiver(path=HOOK_PATH, tls=loopback_tls) as hook,
        aiohttp.ClientSession() as session,
    ):
        config = webhook_config(hook.url, secret=None)
        (message,) = WebhookSink(config, session).render([entry_of_test()])
        refused = await WebhookSink(config, session).send(message)
        assert refused.verdict is Verdict.RETRY
        assert refused.failure == "connection"
        assert refused.detail.startswith("TLS certificate not accepted (")
        assert hook.requests == []
        no_secret(repr(refused))

        trusted = WebhookSink(replace(config, ca_file=ca_file), session)
        assert (await trusted.send(message)).delivered
        (received,) = hook.requests
        assert received.body == message.body


async def test_chat_sink_verifies_tls_and_trusts_its_ca_file(
    loopback_tls: ssl.SSLContext, ca_file: str
) -> None:
    async with (
        Receiver(path=HOOK_PATH, tls=loopback_tls) as hook,
        aiohttp.ClientSession() as session,
    ):
        config = webhook_config(hook.url, name="chat", type=SinkType.SLACK)
        (message,) = ChatSink(config, session).render([entry_of_test()])
        refused = await ChatSink(config, session).send(message)
        assert (refused.verdict, refused.failure) == (Verdict.RETRY, "connection")
        assert "TLS certificate not accepted" in refused.detail
        assert hook.requests == []
        assert (await ChatSink(replace(config, ca_file=ca_file), session).send(message)).delivered
        assert len(hook.requests) == 1


# the whole service


async def test_service_polls_and_delivers_over_https(
    loopback_tls: ssl.SSLContext, ca_file: str
) -> None:
    world = World()
    world.add_token(TOKEN, 1)
    async with (
        https_canvas(loopback_tls, world) as url,
        Receiver(path=HOOK_PATH, tls=loopback_tls) as hook,
        aiohttp.ClientSession() as http,
    ):
        settings = settings_for(
            (source_config(url, token=Secret(TOKEN), ca_file=ca_file),),
            (webhook_config(hook.url, ca_file=ca_file, timeout=3.0),),
        )
        async with running(settings) as service:
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            conference = world.create_conference(title="End to end over TLS")
            world.start(conference.id)
            (started,) = await hook.wait_for(1)
    assert started.json["type"] == "conference.started"
    assert started.json["data"]["conference"]["title"] == "End to end over TLS"
