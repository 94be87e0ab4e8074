"""The simulator's admin API explains itself: ``GET /_sim/`` lists every endpoint, and
``docs/simulator.md`` documents each one with curl examples that work as written."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator

import aiohttp
import pytest

from monitor.simulator import Simulator
from tests.support.cli import process, read_until, run_cli
from tests.support.doc_commands import doc_curls
from tests.support.paths import ROOT

DOC = ROOT / "docs" / "simulator.md"
DOC_URL = "http://127.0.0.1:8900"  # what the doc's examples assume: `simulate`'s default


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


async def index(sim: Simulator) -> list[dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/_sim/") as response:
        assert response.status == 200
        body = await response.json()
    assert body["docs"] == "docs/simulator.md"
    endpoints: list[dict[str, str]] = body["endpoints"]
    return endpoints


async def test_the_index_lists_every_admin_endpoint_and_what_it_does(sim: Simulator) -> None:
    listed = await index(sim)
    served = {
        (route.method, route.resource.canonical)
        for route in sim.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/_sim/")
        and route.method != "HEAD"
    }
    assert {(e["method"], e["path"]) for e in listed} == served
    assert all(len(e["what"]) > 10 for e in listed), [e for e in listed if len(e["what"]) <= 10]
    paths = {(e["method"], e["path"]) for e in listed}
    assert {("POST", "/_sim/conferences"), ("GET", "/_sim/state"), ("POST", "/_sim/reset")} <= paths
    assert len({e["what"] for e in listed}) == len(listed)  # each says what it alone does


async def test_the_doc_has_a_row_for_every_endpoint(sim: Simulator) -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| (GET|POST|DELETE) \| `(/_sim/[^`]*)` \|", text, re.MULTILINE))
    assert rows == {(e["method"], e["path"]) for e in await index(sim)}


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl on PATH")
async def test_the_docs_curl_examples_work_as_written(sim: Simulator) -> None:
    commands = doc_curls(DOC)
    assert len(commands) >= 15
    for command in commands:
        assert DOC_URL in command, command
        proc = await asyncio.create_subprocess_shell(
            command.replace(DOC_URL, sim.url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0, f"{command}\n{out.decode()}{err.decode()}"  # -f: a 2xx
    assert sim.world.conferences() == []  # the last one starts over


async def test_the_simulate_banner_names_the_admin_api_and_its_doc() -> None:
    async with process("simulate", "--port", "0", "--no-script") as proc:
        assert proc.stdout is not None
        admin = re.compile(r"admin API\s+(http://\S+/_sim/)\s.*docs/simulator\.md")
        shown = await read_until(proc.stdout, [admin], within=10)
        assert admin.search(shown), shown


def test_simulate_help_explains_every_option() -> None:
    result = run_cli("simulate", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--host HOST", "--port PORT", "--no-script"):
        (line,) = [line for line in result.stdout.splitlines() if line.strip().startswith(option)]
        assert len(line.strip()) > len(option) + 10, line  # a text follows the option
