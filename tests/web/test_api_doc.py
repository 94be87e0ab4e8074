"""docs/api.md's curl examples work as written, against a running service with ``api_token``
set, a sink ``ops`` with a dead letter, and events in the history."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import replace
from typing import Final

import aiohttp
import pytest

from monitor.core.secret import Secret
from monitor.simulator import Simulator
from monitor.store.memory import MemoryStore
from monitor.store.values import OutboxEntry
from tests.support.doc_commands import doc_curls
from tests.support.paths import ROOT
from tests.support.receiver import Receiver
from tests.support.service import (
    get_json,
    running,
    settings_for,
    source_config,
    until,
    webhook_config,
)

DOC: Final = ROOT / "docs" / "api.md"
DOC_URL: Final = "http://127.0.0.1:9464"
TOKEN: Final = "doc-token-Mn41"
TIMED_OUT: Final = 28  # curl's exit code when -m ends a stream, as the doc says


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl on PATH")
async def test_the_docs_curl_examples_work_as_written(hook: Receiver) -> None:
    commands = doc_curls(DOC)
    assert len(commands) >= 10
    store = MemoryStore()
    async with Simulator() as sim:
        settings = settings_for((source_config(sim.url),), (webhook_config(hook.url),))
        settings = replace(settings, api_token=Secret(TOKEN))
        async with running(settings, store=store) as service, aiohttp.ClientSession() as http:
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            for title in ("First", "Second"):  # after the baseline: both are news
                sim.world.start(sim.world.create_conference(title=title).id)
                await until(lambda: store.history(10), bool)
            entries = await until(lambda: store.history(10), lambda found: len(found) == 2)
            newest, oldest = entries
            dead = OutboxEntry("1-0", "main", newest.event_id, newest.type, "k", newest.body)
            await store.dead_letter("ops", [dead], "http 410: gone", 5)
            env = {
                **os.environ,
                "API_TOKEN": TOKEN,
                "EVENT_ID": oldest.event_id,
                "DEAD_ID": newest.event_id,
            }
            for command in commands:
                assert DOC_URL in command, command
                proc = await asyncio.create_subprocess_shell(
                    command.replace(DOC_URL, service.url),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=env,
                )
                out, err = await asyncio.wait_for(proc.communicate(), 10)
                text = out.decode()
                if "/stream" in command:
                    assert proc.returncode == TIMED_OUT, f"{command}\n{text}{err.decode()}"
                    if "EVENT_ID" in command:  # a resume: the newer event is replayed
                        assert f"id: {newest.event_id}" in text, text
                else:
                    assert proc.returncode == 0, f"{command}\n{text}{err.decode()}"
                assert TOKEN not in text
