"""One webhook attempt: headers, Standard Webhooks signatures, the envelope, and how answers
are classified. Every attempt goes to a real receiver on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.core.diff import diff
from monitor.core.models import EventType, SourceState, format_time
from monitor.delivery.sinks import Attempt, Message, Verdict, WebhookSink
from monitor.store.values import OutboxEntry
from tests.support.delivery_helpers import (
    OTHER_SECRET,
    SECRET,
    FakeClock,
    ended,
    entry_of,
    secret,
    started,
)
from tests.support.factories import NOW, conference
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port
from tests.support.service import webhook_config


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with Receiver(path="/hooks/T0PSECRET-path") as receiver:
        yield receiver


def signed_sink(
    url: str, http: aiohttp.ClientSession, clock: FakeClock | None = None, **overrides: object
) -> WebhookSink:
    config = webhook_config(url, secret=secret(), **overrides)
    return WebhookSink(config, http) if clock is None else WebhookSink(config, http, clock)


def an_entry() -> OutboxEntry:
    return entry_of(started("main", 1).events[0])


def one_message(sink: WebhookSink, entry: OutboxEntry) -> Message:
    """A webhook renders each event as one message: its stored bytes, unchanged."""
    (message,) = sink.render([entry])
    assert message.entries == (entry,)
    assert message.body == entry.body
    assert message.id == entry.event_id
    return message


async def send(sink: WebhookSink, entry: OutboxEntry) -> Attempt:
    """One attempt to deliver ``entry``, as the runner makes it."""
    return await sink.send(one_message(sink, entry))


# headers and signatures


async def test_headers_without_a_secret(hook: Receiver, http: aiohttp.ClientSession) -> None:
    event = started("main", 1).events[0]
    clock = FakeClock(1_790_000_000.75)
    sink = WebhookSink(webhook_config(hook.url), http, clock)

    attempt = await send(sink, entry_of(event))

    assert attempt == Attempt.ok(200)
    (request,) = hook.requests
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event.id
    assert request.headers["webhook-timestamp"] == "1790000000"  # whole unix seconds
    assert "webhook-signature" not in request.headers
    assert request.body == event.body()


async def test_signature_verifies_with_the_reference_package(
    hook: Receiver, http: aiohttp.ClientSession
) -> None:
    event = started("main", 1).events[0]
    sink = signed_sink(hook.url, http)

    assert (await send(sink, entry_of(event))).delivered

    (request,) = hook.requests
    signature = request.headers["webhook-signature"]
    assert signature.startswith("v1,")
    assert " " not in signature  # one signature: one secret
    assert Webhook(SECRET).verify(request.body, request.headers) == event.envelope()
    timestamp = int(request.headers["webhook-timestamp"])
    assert abs(timestamp - time.time()) < 5
    when = datetime.fromtimestamp(timestamp, UTC)
    assert signature == Webhook(SECRET).sign(event.id, when, request.body.decode())


async def test_a_wrong_secret_or_a_changed_body_fails_verification(
    hook: Receiver, http: aiohttp.ClientSession
) -> None:
    event = started("main", 1).events[0]
    await send(signed_sink(hook.url, http), entry_of(event))
    (request,) = hook.requests

    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"main", b"mainx"), request.headers)
    other_id = {**request.headers, "webhook-id": "evt_someone_else"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body, other_id)


async def test_unicode_bodies_are_signed_byte_for_byte(
    hook: Receiver, http: aiohttp.ClientSession
) -> None:
    titled = conference(5, title="Café Ünïcode 🎓 <b>&")
    event = diff("main", SourceState(baselined=True), {5: titled}, {}, now=NOW).events[0]
    assert "🎓".encode() in event.body()  # sent as UTF-8, not \\u escapes

    await send(signed_sink(hook.url, http), entry_of(event))

    (request,) = hook.requests
    assert request.body == event.body()
    envelope = Webhook(SECRET).verify(request.body, request.headers)
    assert envelope["data"]["conference"]["title"] == "Café Ünïcode 🎓 <b>&"


async def test_the_body_stays_the_same_across_attempts_the_timestamp_does_not(
    hook: Receiver, http: aiohttp.ClientSession
) -> None:
    event = started("main", 1).events[0]
    clock = FakeClock(time.time() - 60, step=30)  # attempts 30 s apart, all inside 5 min
    sink = signed_sink(hook.url, http, clock)
    hook.fail_next = 2

    attempts = [await send(sink, entry_of(event)) for _ in range(3)]

    assert [a.delivered for a in attempts] == [False, False, True]
    assert len({r.body for r in hook.requests}) == 1
    assert {r.event_id for r in hook.requests} == {event.id}
    stamps = [int(r.headers["webhook-timestamp"]) for r in hook.requests]
    assert stamps == [int(t) for t in clock.readings]
    assert stamps[1] - stamps[0] == 30
    assert stamps[2] - stamps[1] == 30
    assert len({r.headers["webhook-signature"] for r in hook.requests}) == 3
    for request in hook.requests:  # each attempt verifies on its own timestamp
        Webhook(SECRET).verify(request.body, request.headers)


# the envelope


async def test_started_envelope(hook: Receiver, http: aiohttp.ClientSession) -> None:
    event = started("main", 42).events[0]
    await send(WebhookSink(webhook_config(hook.url), http), entry_of(event))

    body = hook.requests[0].json
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "conference.started"
    assert body["timestamp"] == format_time(NOW)  # detection time, not send time
    assert body["data"] == {
        "source": "main",
        "conference": conference(42).raw,
        "started_at": conference(42).raw["started_at"],
        "ended_at": None,
        "detected_at": format_time(NOW),
        "restart": False,
        "reason": None,
        "context": {  # the diff alone knows no names (the poller adds them)
            "type": "Course",
            "id": 101,
            "name": None,
            "course_code": None,
            "account_id": None,
        },
    }


async def test_ended_envelope(hook: Receiver, http: aiohttp.ClientSession) -> None:
    first = started("main", 42)
    event = ended("main", first.state, 42).events[0]
    assert event.type is EventType.ENDED
    await send(WebhookSink(webhook_config(hook.url), http), entry_of(event))

    body = hook.requests[0].json
    detected = format_time(NOW + timedelta(minutes=3))
    confirmed = conference(42, ended_at=NOW + timedelta(minutes=2)).raw
    assert body["type"] == "conference.ended"
    assert body["timestamp"] == detected
    assert body["data"] == {
        "source": "main",
        "conference": confirmed,  # the confirming response's copy
        "started_at": confirmed["started_at"],
        "ended_at": format_time(NOW + timedelta(minutes=2)),  # Canvas's own value
        "detected_at": detected,
        "restart": False,
        "reason": "ended",
        "context": {  # the diff alone knows no names (the poller adds them)
            "type": "Course",
            "id": 101,
            "name": None,
            "course_code": None,
            "account_id": None,
        },
    }
    assert hook.requests[0].event_id != first.events[0].id


# how answers are classified


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_every_2xx_is_success(
    status: int, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    hook.down, hook.fail_status = True, status  # "failing" with a 2xx: answers that status
    attempt = await send(WebhookSink(webhook_config(hook.url), http), an_entry())
    assert attempt == Attempt.ok(status)
    assert [r.status for r in hook.requests] == [status]


@pytest.mark.parametrize(
    ("status", "verdict", "failure"),
    [
        (400, Verdict.REJECTED, "http_4xx"),
        (401, Verdict.REJECTED, "http_4xx"),
        (403, Verdict.REJECTED, "http_4xx"),
        (404, Verdict.REJECTED, "http_4xx"),
        (408, Verdict.RETRY, "http_4xx"),  # a request timeout passes
        (410, Verdict.DISABLED, "http_4xx"),  # the endpoint is gone
        (413, Verdict.REJECTED, "http_4xx"),
        (422, Verdict.REJECTED, "http_4xx"),
        (429, Verdict.RETRY, "throttled"),
        (500, Verdict.RETRY, "http_5xx"),
        (502, Verdict.RETRY, "http_5xx"),
        (503, Verdict.RETRY, "http_5xx"),
        (504, Verdict.RETRY, "http_5xx"),
    ],
)
async def test_failure_statuses(
    status: int, verdict: Verdict, failure: str, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    hook.fail_next, hook.fail_status = 1, status
    attempt = await send(WebhookSink(webhook_config(hook.url), http), an_entry())
    assert not attempt.delivered
    assert attempt.verdict is verdict
    assert attempt.status == status
    assert attempt.failure == failure
    assert attempt.retry_after is None
    detail = f"HTTP {status}: endpoint gone" if status == 410 else f"HTTP {status}"
    assert attempt.detail == detail
    assert [r.status for r in hook.requests] == [status]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_failures_and_not_followed(
    status: int, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    async with Receiver(path="/moved") as moved:
        moved.answer_with(status, headers={"Location": hook.url})
        sink = WebhookSink(webhook_config(moved.url), http)
        attempt = await send(sink, an_entry())
    assert attempt == Attempt(Verdict.RETRY, status, "http_3xx", None, f"HTTP {status}")
    assert len(moved.requests) == 1
    assert hook.requests == []  # the Location was never visited


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "7", (7.0, 7.0)),
        (429, "0", (0.0, 0.0)),
        (503, "2", (2.0, 2.0)),
        (429, "in a while", None),
        (429, "http-date +30s", (28.0, 30.0)),
        (503, "http-date -30s", (0.0, 0.0)),
    ],
)
async def test_retry_after_in_seconds_or_as_an_http_date(
    status: int,
    header: str,
    expected: tuple[float, float] | None,
    hook: Receiver,
    http: aiohttp.ClientSession,
) -> None:
    if header.startswith("http-date"):
        offset = int(header.removeprefix("http-date ").removesuffix("s"))
        when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=offset)
        header = format_datetime(when, usegmt=True)
    hook.fail_next, hook.fail_status, hook.retry_after = 1, status, header
    attempt = await send(WebhookSink(webhook_config(hook.url), http), an_entry())
    assert hook.requests[0].status == status
    assert not attempt.delivered
    if expected is None:
        assert attempt.retry_after is None
    else:
        assert attempt.retry_after is not None
        assert expected[0] <= attempt.retry_after <= expected[1]


async def test_a_slow_receiver_times_out(hook: Receiver, http: aiohttp.ClientSession) -> None:
    hook.delay = 0.5
    sink = WebhookSink(webhook_config(hook.url, timeout=0.1), http)
    began = time.monotonic()
    attempt = await send(sink, an_entry())
    assert time.monotonic() - began < 0.4
    assert attempt == Attempt(Verdict.RETRY, None, "timeout", None, "timed out")


async def test_connection_refused(http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/T0PSECRET-path"
    attempt = await send(WebhookSink(webhook_config(url), http), an_entry())
    assert not attempt.delivered
    assert attempt.failure == "connection"
    assert attempt.status is None
    assert "T0PSECRET" not in attempt.detail
    assert "127.0.0.1" not in attempt.detail  # details are logged: never the URL


async def test_failure_details_never_carry_the_url(
    hook: Receiver, http: aiohttp.ClientSession
) -> None:
    hook.fail_next, hook.fail_status = 1, 500
    sink = WebhookSink(webhook_config(hook.url, timeout=0.1), http)
    attempts = [await send(sink, an_entry())]
    hook.delay = 0.3
    attempts.append(await send(sink, an_entry()))
    assert [a.failure for a in attempts] == ["http_5xx", "timeout"]
    for attempt in attempts:
        assert "T0PSECRET" not in repr(attempt)
        assert str(hook.port) not in attempt.detail


async def test_a_receiver_that_hangs_up_is_a_connection_failure(
    http: aiohttp.ClientSession,
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sink = WebhookSink(webhook_config(f"http://127.0.0.1:{port}/hook"), http)
        attempt = await send(sink, an_entry())
    finally:
        server.close()
        await server.wait_closed()
    assert not attempt.delivered
    assert attempt.failure == "connection"
    assert attempt.status is None
