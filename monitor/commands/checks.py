"""`check`: is this configuration going to work? Every source, the store, every sink.

Each check prints one line (``ok`` or ``FAIL`` with the reason, never a secret), and the command
passes only if all of them pass. ``--send-test`` sends one signed ``monitor.test`` event to each
sink, so a receiver's signature verification can be tried before a real event arrives.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from typing import TextIO

import aiohttp

from monitor import USER_AGENT
from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline, Lane
from monitor.commands.coverage import check_coverage
from monitor.config import redis_url
from monitor.config.settings import Settings, SinkConfig
from monitor.core.errors import CanvasError, StoreError
from monitor.core.models import format_time
from monitor.delivery.sinks import make_sink
from monitor.observe.metrics import Metrics
from monitor.replicas.identity import base_name
from monitor.store.base import open_store
from monitor.store.values import OutboxEntry

TEST_EVENT = "monitor.test"


def test_entry(sink: SinkConfig) -> OutboxEntry:
    now = format_time(datetime.now(UTC))
    body = {
        "type": TEST_EVENT,
        "timestamp": now,
        "data": {"sink": sink.name, "message": "test event from conference-monitor check"},
    }
    encoded = json.dumps(body, separators=(",", ":")).encode()
    event_id = "evt_test_" + secrets.token_hex(8)
    return OutboxEntry("0-0", "check", event_id, TEST_EVENT, "check", encoded)


async def check(settings: Settings, out: TextIO, *, send_test: bool = False) -> bool:
    passed = True

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal passed
        passed = passed and ok
        print(f"{'ok  ' if ok else 'FAIL'}  {what}: {detail}", file=out, flush=True)

    metrics = Metrics([s.name for s in settings.sources], [s.name for s in settings.sinks])
    headers = {"User-Agent": f"{USER_AGENT} (check)"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for source in settings.sources:
            client = CanvasClient(session, source, Lane(source.rate_limit), metrics)
            try:
                me = await client.whoami(Deadline(source.request_timeout * 3))
            except CanvasError as exc:
                report(False, f"source {source.name}", f"{source.base_url}: {exc}")
            else:
                who = f"as {me.get('name', '?')!r} (user {me.get('id', '?')})"
                report(True, f"source {source.name}", f"{source.base_url} answers {who}")
                await check_coverage(client, source, report)

        store = open_store(settings.state_url, consumer=base_name())
        where = redis_url.where(settings.state_url.reveal())  # every sentinel or node
        try:
            async with asyncio.timeout(10):
                await store.ping()
        except (StoreError, TimeoutError) as exc:
            said = str(exc) or "timed out"  # a StoreError names the server itself: say it once
            report(False, "store", said if where in said else f"{where}: {said}")
        else:
            report(True, "store", f"{where} answers")
        finally:
            await store.close()

        if send_test:
            for config in settings.sinks:
                sink = make_sink(config, session)
                attempt = await sink.send(sink.render([test_entry(config)])[0])
                detail = (
                    f"{config.type} accepted the test event"
                    if attempt.delivered
                    else (f"{config.type}: {attempt.detail or attempt.failure}")
                )
                report(attempt.delivered, f"sink {config.name}", detail)
    return passed
