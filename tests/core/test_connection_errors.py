"""A request that got no answer says what happened, as a person would: "connection refused to
host:port", "cannot resolve host", not aiohttp's class name, and never a path, query or token.

Real sockets: a closed loopback port refuses; a resolver that finds no such name stands in for a
DNS server (the one thing a loopback server cannot produce).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.canvas.lane import Deadline
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.secret import Secret
from monitor.delivery.sinks.base import Verdict
from monitor.delivery.sinks.http import Answer, post
from monitor.store.memory import MemoryStore
from tests.support.canvas_helpers import (
    fast_source,
    http_session,
    make_client,
    new_metrics,
    poller_rig,
)
from tests.support.cli import FAILURE, config_text, lines, run_async, write
from tests.support.redis_server import free_port

TOKEN = "s3cret-canvas-token"


class NoSuchHost(AbstractResolver):
    """Answers every name as a DNS server does for a name that does not exist."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        return None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as opened:
        yield opened


async def test_canvas_refused_says_connection_refused_to_host_and_port(
    session: aiohttp.ClientSession,
) -> None:
    port = free_port()
    source = fast_source(f"http://127.0.0.1:{port}", token=Secret(TOKEN))
    client = make_client(session, source, new_metrics())
    with pytest.raises(CanvasError) as caught:
        await client.live(Deadline(2.0))
    message = str(caught.value)
    assert caught.value.reason is PollFailure.CONNECTION
    assert message == f"/api/v1/conferences: connection refused to 127.0.0.1:{port}"
    assert "Client" not in message
    assert TOKEN not in message
    assert "per_page" not in message  # no query
    assert "state=live" not in message


async def test_canvas_host_not_found_says_cannot_resolve() -> None:
    async with http_session(resolver=NoSuchHost()) as session:
        source = fast_source("http://canvas.example.invalid", token=Secret(TOKEN))
        client = make_client(session, source, new_metrics())
        with pytest.raises(CanvasError) as caught:
            await client.whoami(Deadline(2.0))
    assert str(caught.value) == "/api/v1/users/self: cannot resolve host canvas.example.invalid"


async def test_a_failed_poll_reports_the_words_to_readiness_and_logs() -> None:
    async with poller_rig(MemoryStore()) as rig:
        await rig.sim.stop()  # Canvas goes away: its port now refuses
        assert not await rig.poll()
        error = rig.poller.last_error  # what /readyz and the poll_failed line say
    assert error is not None
    assert "connection refused to 127.0.0.1:" in error
    assert "ClientConnectorError" not in error


async def test_sink_refused_says_connection_refused_and_no_part_of_the_url(
    session: aiohttp.ClientSession,
) -> None:
    port = free_port()
    url = Secret(f"http://user:pa55word@127.0.0.1:{port}/hooks/T0KEN?sig=abcdef")
    attempt = await post(session, url, b"{}", {}, within=2.0)
    assert not isinstance(attempt, Answer)
    assert (attempt.verdict, attempt.failure) == (Verdict.RETRY, "connection")
    assert attempt.detail == "connection refused"  # the sink's name says which receiver


async def test_check_says_connection_refused(tmp_path: Path) -> None:
    closed = free_port()
    path = write(tmp_path, config_text(f"http://127.0.0.1:{closed}", token=TOKEN))
    code, out, err = await run_async("check", "--config", str(path))
    assert code == FAILURE, out + err
    source = lines(out)[0]
    assert source.startswith("FAIL")
    assert f"connection refused to 127.0.0.1:{closed}" in source
    assert "ClientConnectorError" not in out + err
    assert TOKEN not in out + err
