"""Invariant 6, end to end: secrets never leak.

Real-looking secrets (a Canvas token, a webhook URL whose path is the secret, a ``whsec_``
signing key, a Redis password) are configured for real: the simulator accepts the token, the
receiver listens on the secret path, a password-protected ``redis-server`` holds the state. The
service is driven through the ways things go wrong (Canvas 401 and 5xx, a failing receiver, an
unreachable or refusing store, a failing ``check``), and then every place a person or a scraper
could look is searched for every secret: logs, ``/metrics``, ``/healthz``, ``/readyz``,
``/api/v1/live``, the console page, error messages, ``repr()`` and ``check`` output.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import structlog
from standardwebhooks.webhooks import Webhook

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline, Lane
from monitor.commands.checks import test_entry as make_test_entry
from monitor.config.settings import from_environment, load_file, parse
from monitor.core.errors import CanvasError, ConfigError, StoreError
from monitor.core.secret import Secret, redact_url, registered_secrets
from monitor.delivery.sinks import WebhookSink
from monitor.observe import logs
from monitor.observe.metrics import Metrics
from monitor.simulator import Simulator
from monitor.store.redis.store import RedisStore
from tests.support.cli import clean_env, run_async
from tests.support.log_capture import captured_logs as capture_logs
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port, password_redis
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

TOKEN = "canvas-token-7f3a9c2e1b"
HOOK_SECRET = "SECRETPATH123"
HOOK_PATH = f"/hook/{HOOK_SECRET}"
SIGNING_KEY = base64.b64encode(b"leak-test-signing-key-0123456789").decode()
WHSEC = f"whsec_{SIGNING_KEY}"
REDIS_PASS = "redis-pass-9x8y"
WRONG_PASS = "wrong-pass-5q6r"
SECRETS = (TOKEN, HOOK_SECRET, WHSEC, SIGNING_KEY, REDIS_PASS, WRONG_PASS)
SIM_USER = 1
PAGES = ("/", "/metrics", "/healthz", "/readyz", "/api/v1/live")


def assert_no_secret(texts: Iterable[str], where: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in {where}: {text[:2000]}"


def redis_url(port: int, password: str = REDIS_PASS) -> str:
    return f"redis://:{password}@127.0.0.1:{port}/0"


@pytest.fixture(scope="module")
def secured_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A ``redis-server`` of our own that demands ``REDIS_PASS``; yields its port."""
    with password_redis(tmp_path_factory.mktemp("secured-redis"), REDIS_PASS) as port:
        yield port


@pytest.fixture
def secured_redis_url(secured_redis: int) -> str:
    client = redis.Redis(port=secured_redis, password=REDIS_PASS)
    client.flushall()
    client.close()
    return redis_url(secured_redis)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the service, at debug."""
    with capture_logs("debug") as stream:
        yield stream


async def fetch_pages(http: aiohttp.ClientSession, base: str) -> list[str]:
    texts = []
    for page in PAGES:
        async with http.get(base + page) as response:
            texts.append(f"{page} {response.status} {await response.text()}")
    return texts


def failing(reason: str | None) -> Any:
    return lambda live: live["sources"][0]["failing"] == reason


# the service in-process, through every kind of failure


async def test_running_service_leaks_nothing(
    captured_logs: io.StringIO, secured_redis_url: str
) -> None:
    pages: list[str] = []
    async with (
        Simulator() as sim,
        Receiver(path=HOOK_PATH) as hook,
        aiohttp.ClientSession() as http,
    ):
        sim.world.add_token(TOKEN, SIM_USER)
        settings = settings_for(
            (source_config(sim.url, token=Secret(TOKEN)),),
            (webhook_config(hook.url, secret=Secret(WHSEC), timeout=3.0),),
            state_url=secured_redis_url,
        )
        async with running(settings) as service:

            def live() -> Any:
                return get_json(http, f"{service.url}/api/v1/live")

            # normal polling, with events delivered and signed
            conf = sim.world.create_conference(title="Leak check")
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            sim.world.start(conf.id)
            (started,) = await hook.wait_for(1)
            assert Webhook(WHSEC).verify(started.body, started.headers)["type"] == (
                "conference.started"
            )
            pages += await fetch_pages(http, service.url)

            # Canvas answers 500 on everything
            rule = sim.faults.add("status", status=500, times=None)
            await until(live, failing("http_5xx"), within=15)
            pages += await fetch_pages(http, service.url)
            sim.faults.remove(rule)
            await until(live, failing(None), within=10)

            # the receiver fails, then recovers
            hook.down, hook.fail_status = True, 500
            sim.world.end(conf.id)
            await until(lambda: asyncio.sleep(0, len(hook.requests)), lambda n: n >= 2)
            pages += await fetch_pages(http, service.url)
            hook.down = False
            await hook.wait_for(2)

            # the token is revoked: 401
            sim.world.revoke_token(TOKEN)
            await until(live, failing("auth"))
            pages += await fetch_pages(http, service.url)

    log = captured_logs.getvalue()
    for event in ("listening", "conference.started", "poll_failed", "delivery_failing"):
        assert f'"event": "{event}"' in log, f"no {event} in the logs:\n{log}"
    assert '"reason": "http_5xx"' in log
    assert '"reason": "auth"' in log
    assert_no_secret([log], "the logs")
    assert_no_secret(pages, "the HTTP pages")
    assert any(p.startswith("/metrics 200") for p in pages)


@pytest.mark.parametrize("store", ["closed port", "wrong password"])
async def test_unreachable_store_leaks_nothing(
    captured_logs: io.StringIO, secured_redis: int, store: str
) -> None:
    port = free_port() if store == "closed port" else secured_redis
    password = REDIS_PASS if store == "closed port" else WRONG_PASS
    async with Simulator() as sim, Receiver(path=HOOK_PATH) as hook:
        sim.world.add_token(TOKEN, SIM_USER)
        settings = settings_for(
            (source_config(sim.url, token=Secret(TOKEN)),),
            (webhook_config(hook.url, secret=Secret(WHSEC)),),
            state_url=redis_url(port, password),
        )
        async with running(settings) as service, aiohttp.ClientSession() as http:
            readyz = await until(
                lambda: get_json(http, f"{service.url}/readyz"),
                lambda r: not r["checks"][0]["ok"],
            )
            pages = await fetch_pages(http, service.url)
            await until(
                lambda: asyncio.sleep(0, captured_logs.getvalue()),
                lambda text: "store_unavailable" in text,
            )
    store_check = readyz["checks"][0]
    assert store_check["name"] == "store"
    assert f"127.0.0.1:{port}" in store_check["detail"]
    if store == "wrong password":
        assert "WRONGPASS" in store_check["detail"] or "Authentication" in store_check["detail"]
    log = captured_logs.getvalue()
    assert '"event": "store_unavailable"' in log
    assert_no_secret([log], "the logs")
    assert_no_secret(pages, "the HTTP pages")


# the errors themselves


def exception_texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


async def test_canvas_and_store_and_sink_errors_carry_no_secret(secured_redis: int) -> None:
    texts: list[str] = []
    async with (
        Simulator() as sim,
        Receiver(path=HOOK_PATH) as hook,
        aiohttp.ClientSession() as session,
    ):
        sim.world.add_token(TOKEN, SIM_USER)
        source = source_config(sim.url, token=Secret(TOKEN))
        client = CanvasClient(session, source, Lane(100), Metrics(["main"], []))
        assert (await client.whoami(Deadline(5)))["id"] == SIM_USER
        sim.world.revoke_token(TOKEN)
        with pytest.raises(CanvasError) as revoked:
            await client.whoami(Deadline(5))
        assert revoked.value.status == 401
        texts += exception_texts(revoked.value)

        hook.down, hook.fail_status = True, 500
        sink = WebhookSink(webhook_config(hook.url, secret=Secret(WHSEC)), session)
        (message,) = sink.render([make_test_entry(webhook_config(hook.url))])
        result = await sink.send(message)
        assert not result.delivered
        texts += [repr(result), result.detail]
        await hook.stop()
        refused = await sink.send(message)
        assert refused.failure == "connection"
        texts += [repr(refused), refused.detail]

    for url in (redis_url(free_port()), redis_url(secured_redis, WRONG_PASS)):
        store = RedisStore.from_url(Secret(url), consumer="leak-test")
        try:
            with pytest.raises(StoreError) as failed:
                await store.ping()
        finally:
            await store.close()
        texts += exception_texts(failed.value)
    assert_no_secret(texts, "error messages")


def secret_config_errors(tmp_path: Path) -> list[ConfigError]:
    """ConfigErrors provoked with a secret in (or next to) the offending value."""
    good_source = {"name": "main", "base_url": "https://canvas.example.edu", "token": TOKEN}
    hook = f"https://hooks.example.edu{HOOK_PATH}"
    raws: list[dict[str, Any]] = [
        {"sources": [{**good_source, "base_url": f"https://canvas.example.edu/?t={TOKEN}"}]},
        {"sources": [{**good_source, "base_url": f"https://me:{TOKEN}@canvas.example.edu"}]},
        {"sources": [{**good_source, "base_url": f"ftp://canvas.example.edu/{TOKEN}"}]},
        {"sources": [{**good_source, "token": [TOKEN]}]},
        {"sources": [{**good_source, "tokn": TOKEN}]},
        {"sources": [{**good_source, "token_file": "/run/secrets/canvas"}]},
        {"sources": [good_source], "state_url": f"http://:{REDIS_PASS}@127.0.0.1:6379/0"},
        {"sources": [good_source], "state_url": [f"redis://:{REDIS_PASS}@h/0"]},
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "webhook", "url": f"ftp://h{HOOK_PATH}"}],
        },
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "webhook", "url": f"https://h:99999{HOOK_PATH}"}],
        },
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "webhook", "url": f"hooks.example.edu{HOOK_PATH}"}],
        },
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "webhook", "url": hook, "secret": TOKEN}],
        },
        {
            "sources": [good_source],
            "sinks": [
                {"name": "a", "type": "webhook", "url": hook, "secret": f"whsec_{SIGNING_KEY}!"}
            ],
        },
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "webhook", "url": hook, "secret": WHSEC[:20]}],
        },
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "slack", "url": hook, "secret": WHSEC}],
        },
        {
            "sources": [good_source],
            "sinks": [{"name": "a", "type": "webhook", "url": hook, "secrte": WHSEC}],
        },
        {
            "sources": [good_source],
            "sinks": [
                {"name": "a", "type": "webhook", "url": hook},
                {"name": "a", "type": "webhook", "url": hook},
            ],
        },
    ]
    errors: list[ConfigError] = []
    for raw in raws:
        with pytest.raises(ConfigError) as caught:
            parse(raw)
        errors.append(caught.value)
    base = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN": TOKEN}
    envs: list[dict[str, str]] = [
        {**base, "WEBHOOK_URL": f"hooks.example.edu{HOOK_PATH}"},
        {**base, "WEBHOOK_URL": hook, "WEBHOOK_SECRET": TOKEN},
        {**base, "SLACK_WEBHOOK_URL": f"slack{HOOK_PATH}"},
        {**base, "REDIS_URL": f"mysql://:{REDIS_PASS}@127.0.0.1/0"},
        {**base, "CANVAS_BASE_URL": f"https://canvas.example.edu/?access_token={TOKEN}"},
        {**base, "POLL_INTERVAL": "abc"},
        {"CANVAS_TOKEN": TOKEN},
    ]
    for env in envs:
        with pytest.raises(ConfigError) as caught:
            from_environment(env)
        errors.append(caught.value)
    unset = tmp_path / "unset.yaml"
    unset.write_text(f"sources:\n  - name: main\n    base_url: x\n    token: {TOKEN}${{NOPE}}\n")
    with pytest.raises(ConfigError) as caught:
        load_file(unset, env={"OTHER": TOKEN})
    errors.append(caught.value)
    return errors


def test_config_errors_carry_no_secret(tmp_path: Path) -> None:
    errors = secret_config_errors(tmp_path)
    assert len(errors) == 25
    assert_no_secret(
        [text for error in errors for text in (*exception_texts(error), error.field)],
        "configuration errors",
    )


def test_repr_of_config_objects_carries_no_secret(tmp_path: Path, secured_redis: int) -> None:
    text = (
        f"state_url: {redis_url(secured_redis)}\n"
        "sources:\n"
        "  - name: main\n"
        "    base_url: https://canvas.example.edu\n"
        "    token: ${CANVAS_TOKEN}\n"
        "sinks:\n"
        "  - name: ops\n"
        "    type: webhook\n"
        f"    url: https://hooks.example.edu{HOOK_PATH}\n"
        "    secret: ${WEBHOOK_SECRET}\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    settings = load_file(path, env={"CANVAS_TOKEN": TOKEN, "WEBHOOK_SECRET": WHSEC})
    env_settings = from_environment(
        {
            "CANVAS_BASE_URL": "https://canvas.example.edu",
            "CANVAS_TOKEN": TOKEN,
            "REDIS_URL": redis_url(secured_redis),
            "WEBHOOK_URL": f"https://hooks.example.edu{HOOK_PATH}",
            "WEBHOOK_SECRET": WHSEC,
        }
    )
    objects: list[object] = []
    for one in (settings, env_settings):
        objects += [one, *one.sources, *one.sinks, one.state_url, one.sources[0].token]
        objects += [one.sinks[0].url, one.sinks[0].secret, one.listen]
    assert_no_secret([repr(o) for o in objects] + [str(o) for o in objects], "repr()")
    assert settings.sources[0].token.reveal() == TOKEN  # the values are there, only hidden


def test_password_in_base_url_never_shows() -> None:
    base_url = f"https://:{TOKEN}@canvas.example.edu"
    raw = {"sources": [{"name": "main", "base_url": base_url, "token": "another-token-1234"}]}
    try:
        settings = parse(raw)
    except ConfigError as exc:
        assert_no_secret(exception_texts(exc), "the error")
    else:
        assert_no_secret([repr(settings), repr(settings.sources[0])], "repr()")


# the real process: check and run


async def run_monitor(*args: str, env: dict[str, str]) -> tuple[int, str]:
    code, out, err = await run_async(*args, env=env)
    return code, out + err


def config_file(
    tmp_path: Path, canvas_url: str, state_url: str, hook_url: str, listen: str = "127.0.0.1:0"
) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "poll_interval: 0.2\n"
        "log_level: debug\n"
        "shutdown_timeout: 1\n"  # a failing receiver must not hold the stop for long
        f"state_url: {state_url}\n"
        f"listen: {listen}\n"
        "sources:\n"
        "  - name: main\n"
        f"    base_url: {canvas_url}\n"
        f"    token: {TOKEN}\n"
        "    request_timeout: 2\n"
        "    poll_timeout: 5\n"
        "sinks:\n"
        "  - name: ops\n"
        "    type: webhook\n"
        f"    url: {hook_url}\n"
        f"    secret: {WHSEC}\n"
        "    timeout: 3\n"
    )
    return path


async def test_failing_check_leaks_nothing(tmp_path: Path) -> None:
    async with Simulator() as sim, Receiver(path=HOOK_PATH) as hook:
        sim.world.add_token(TOKEN, SIM_USER)
        sim.world.revoke_token(TOKEN)
        hook.down, hook.fail_status = True, 500
        closed = redis_url(free_port())
        path = config_file(tmp_path, sim.url, closed, hook.url)
        from_file = await run_monitor(
            "check", "--config", str(path), "--send-test", env=clean_env()
        )
        env = clean_env(
            CANVAS_BASE_URL=sim.url,
            CANVAS_TOKEN=TOKEN,
            REDIS_URL=closed,
            WEBHOOK_URL=hook.url,
            WEBHOOK_SECRET=WHSEC,
        )
        from_env = await run_monitor("check", "--send-test", env=env)
    for code, output in (from_file, from_env):
        assert code == 1, output
        fails = [line for line in output.splitlines() if line.startswith("FAIL")]
        assert len(fails) == 3, output  # source (401), store, sink (500)
        assert_no_secret([output], "check output")
    assert len(hook.requests) == 2


async def test_passing_check_leaks_nothing(tmp_path: Path, secured_redis_url: str) -> None:
    async with Simulator() as sim, Receiver(path=HOOK_PATH) as hook:
        sim.world.add_token(TOKEN, SIM_USER)
        path = config_file(tmp_path, sim.url, secured_redis_url, hook.url)
        code, output = await run_monitor(
            "check", "--config", str(path), "--send-test", env=clean_env()
        )
    assert code == 0, output
    assert output.count("ok  ") == 3, output
    assert_no_secret([output], "check output")
    (request,) = hook.requests
    Webhook(WHSEC).verify(request.body, request.headers)


def test_bad_config_via_the_cli_leaks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "sources:\n  - name: main\n"
        f"    base_url: https://canvas.example.edu/?access_token={TOKEN}\n"
        f"    token: {TOKEN}\n"
    )
    env_cases = [
        ["run", "--config", str(path)],
        ["check", "--config", str(path)],
    ]
    for args in env_cases:
        result = subprocess.run(  # noqa: S603 - our own program
            [sys.executable, "-m", "monitor", *args],
            env=clean_env(WEBHOOK_SECRET=WHSEC),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 78, result.stderr
        assert "sources[0].base_url" in result.stderr
        assert_no_secret([result.stdout, result.stderr], "CLI output")


async def test_running_process_leaks_nothing(tmp_path: Path, secured_redis_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        Simulator() as sim,
        Receiver(path=HOOK_PATH) as hook,
        aiohttp.ClientSession() as http,
    ):
        sim.world.add_token(TOKEN, SIM_USER)
        path = config_file(tmp_path, sim.url, secured_redis_url, hook.url, f"127.0.0.1:{port}")
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "monitor", "run", "--config", str(path)),
            env=clean_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        pages: list[str] = []
        try:

            async def ready() -> Any:
                try:
                    return await get_json(http, f"{base}/readyz")
                except aiohttp.ClientError:
                    return {"ready": False}

            def live() -> Any:
                return get_json(http, f"{base}/api/v1/live")

            await until(ready, lambda r: r["ready"], within=15)
            hook.down, hook.fail_status = True, 500
            sim.world.start(sim.world.create_conference(title="Process leak check").id)
            await until(lambda: asyncio.sleep(0, len(hook.requests)), lambda n: n >= 1)
            pages += await fetch_pages(http, base)
            rule = sim.faults.add("status", status=503, times=None)
            await until(live, failing("http_5xx"), within=15)
            sim.faults.remove(rule)
            sim.world.revoke_token(TOKEN)
            await until(live, failing("auth"), within=10)
            pages += await fetch_pages(http, base)
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.communicate()
    assert proc.returncode == 0, err.decode()
    log = err.decode()
    for event in ("poll_failed", "delivery_failing", "stopped"):
        assert f'"event": "{event}"' in log, log
    assert_no_secret([out.decode(), log], "the process output")
    assert_no_secret(pages, "the HTTP pages")


# the last line of defence, directly


def test_scrub_replaces_every_registered_secret() -> None:
    short = Secret("scrub-me-7a1")
    longer = Secret("scrub-me-7a1-and-more")
    assert {"scrub-me-7a1", "scrub-me-7a1-and-more"} <= registered_secrets()
    line = "a scrub-me-7a1-and-more b scrub-me-7a1 c"
    assert logs.scrub(line) == "a *** b *** c"  # longest first: no half-replaced tail
    assert logs.scrub("nothing secret here") == "nothing secret here"
    assert short.reveal() in line
    assert longer.reveal() in line


def test_very_short_values_are_not_scrubbed() -> None:
    Secret("abc")  # would scrub innocent text
    assert "abc" not in registered_secrets()
    assert logs.scrub("abc abcdef") == "abc abcdef"


def test_a_url_with_nothing_secret_is_not_scrubbed() -> None:
    """``STATE_URL=redis://127.0.0.1:1``: a message names the server it could not reach, not
    ``redis ***``; the same URL with a password or a path (a database, a webhook's token) is a
    secret as a whole."""
    Secret("redis://127.0.0.1:16001")
    Secret("redis://:pw-Q7@127.0.0.1:16002")
    Secret("https://hooks.example.edu/services/T0KEN-9f")
    assert (
        logs.scrub("cannot reach redis://127.0.0.1:16001") == "cannot reach redis://127.0.0.1:16001"
    )
    assert logs.scrub("redis://:pw-Q7@127.0.0.1:16002 down") == "*** down"
    assert logs.scrub("post https://hooks.example.edu/services/T0KEN-9f") == "post ***"


def test_a_secret_that_only_looks_like_a_url_is_still_one() -> None:
    """``urlsplit`` refuses an unclosed IPv6 bracket: the value is kept secret, no crash."""
    Secret("tok://[x-not-a-url-9Q")
    assert logs.scrub("a tok://[x-not-a-url-9Q b") == "a *** b"


async def test_dlq_with_a_bare_store_url_names_the_server() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "dlq", "list", "--sink", "ops",
        env={"PATH": os.environ.get("PATH", ""), "STATE_URL": f"redis://127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert f"redis redis://127.0.0.1:{port}:" in err.decode()
    assert "***" not in err.decode()


def fail_with(message: str) -> None:
    raise ValueError(message)


def test_log_pipeline_scrubs_structlog_and_stdlib_lines() -> None:
    secret = Secret("pipeline-secret-5e6f")
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        logs.configure("debug", "json", stream=stream)
        log = structlog.get_logger("leak-test")
        log.info("plain", error=f"GET failed for {secret.reveal()}")
        log.info("wrapped", token=secret)
        try:
            fail_with(f"boom {secret.reveal()}")
        except ValueError:
            log.exception("with_traceback")
        logging.getLogger("some.library").warning("library says %s", secret.reveal())
        logs.configure("debug", "console", stream=stream)
        structlog.get_logger("leak-test").warning("console", value=secret.reveal())
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()
        root.handlers, root.level = handlers, level
    output = stream.getvalue()
    for event in ("plain", "wrapped", "with_traceback", "library says", "console"):
        assert event in output
    assert "pipeline-secret-5e6f" not in output
    assert output.count("***") >= 5


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{REDIS_PASS}@127.0.0.1:6379/0", "redis://127.0.0.1:6379/…"),
        (f"redis://default:{REDIS_PASS}@redis.example.edu/0", "redis://redis.example.edu/…"),
        (f"rediss://u:{REDIS_PASS}@redis.example.edu:6380", "rediss://redis.example.edu:6380"),
        (f"redis://:{REDIS_PASS}@redis.example.edu:notaport/0", "redis://redis.example.edu/…"),
        (f"unix:///run/redis.sock?password={REDIS_PASS}", None),
        (f"http://127.0.0.1:8080{HOOK_PATH}", "http://127.0.0.1:8080/…"),
        (
            f"https://hooks.example.edu{HOOK_PATH}?token={TOKEN}#{WHSEC}",
            "https://hooks.example.edu/…",
        ),
        (f"https://hooks.example.edu/?token={TOKEN}", "https://hooks.example.edu/…"),
        (f"https://hooks.example.edu/#{TOKEN}", "https://hooks.example.edu"),
        (f"https://hooks.slack.com/services/T0/B0/{HOOK_SECRET}", "https://hooks.slack.com/…"),
        (f"http://[::1]:9000{HOOK_PATH}", "http://[::1]:9000/…"),
        ("https://canvas.example.edu", "https://canvas.example.edu"),
        ("https://canvas.example.edu/", "https://canvas.example.edu"),
    ],
)
def test_redact_url_keeps_only_the_origin(url: str, shown: str | None) -> None:
    redacted = redact_url(url)
    if shown is not None:
        assert redacted == shown
    assert_no_secret([redacted], "redact_url")
