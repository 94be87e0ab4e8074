"""Per-sink filters (``events``, ``sources``, ``conference_types``, ``context_types``) and extra
``headers``: what the configuration accepts, what a real receiver gets, and what never leaks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import structlog

from monitor.config.settings import SinkConfig, parse
from monitor.core.diff import Answer, Confirmation, diff
from monitor.core.errors import ConfigError
from monitor.core.models import EventType
from monitor.core.secret import Secret
from tests.support.delivery_helpers import (
    FAST_SCHEDULE,
    StoreFactory,
    backlog_is,
    fast_config,
    idle,
    open_outbox,
    running_sink,
    started,
)
from tests.support.factories import NOW, conference
from tests.support.ledger_helpers import started_with
from tests.support.receiver import Receiver

HEADER_VALUE = "hdr-Val-9f2K-SECRET"


async def deliver(
    store: StoreFactory,
    *,
    hook: Receiver,
    http: aiohttp.ClientSession,
    config: SinkConfig,
    commits: list[tuple[str, Any]],
    wanted: int,
) -> list[str]:
    """Commit ``(source, outcome)`` in turn, run the sink until its backlog is empty; the event
    ids the receiver got (each exactly once, and nothing else)."""
    opened = store()
    await opened.open_outbox(["ops"], ["main", "other"])
    versions: dict[str, int] = {}
    for source, outcome in commits:
        versions[source] = await opened.commit(source, versions.get(source, 0), outcome)
    async with running_sink(config, opened, http) as run:
        await hook.wait_for(wanted)
        await backlog_is(opened, 0)  # the filtered events were acknowledged unsent
        await idle(run.runner)
        await run.finish()
    assert run.sample("conference_monitor_deliveries_total") == wanted
    received = [r.event_id for r in hook.requests]
    assert len(received) == len(set(received)) == wanted
    return received


async def test_a_sources_filter(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    main, other = started("main", 1, 2), started("other", 3)
    config = fast_config(hook.url, sources=frozenset({"other"}))
    got = await deliver(
        make_store,
        hook=hook,
        http=http,
        config=config,
        commits=[("main", main), ("other", other)],
        wanted=1,
    )
    assert got == [other.events[0].id]


async def test_a_conference_types_filter(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    outcome = started_with(
        "main",
        (1, {"conference_type": "BigBlueButton"}),
        (2, {"conference_type": "AdobeConnect"}),
        (3, {"conference_type": "LtiConference"}),
    )
    config = fast_config(hook.url, conference_types=frozenset({"AdobeConnect", "LtiConference"}))
    got = await deliver(
        make_store, hook=hook, http=http, config=config, commits=[("main", outcome)], wanted=2
    )
    types = {e.id: e.envelope()["data"]["conference"]["conference_type"] for e in outcome.events}
    assert sorted(types[i] for i in got) == ["AdobeConnect", "LtiConference"]


async def test_a_context_types_filter(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    outcome = started_with(
        "main",
        (1, {"context_type": "Course"}),
        (2, {"context_type": "Group", "context_id": 7}),
        (3, {"context_type": "Course", "context_id": 202}),
    )
    config = fast_config(hook.url, context_types=frozenset({"Group"}))
    got = await deliver(
        make_store, hook=hook, http=http, config=config, commits=[("main", outcome)], wanted=1
    )
    assert got == [outcome.events[1].id]


async def test_filters_combine(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    group: dict[str, object] = {"context_type": "Group", "context_id": 7}
    first = started_with("main", (1, {}), (2, group))
    confirmed = {
        1: Confirmation(Answer.FOUND, conference(1, ended_at=NOW)),
        2: Confirmation(Answer.FOUND, conference(2, ended_at=NOW, **group)),
    }
    second = diff("main", first.state, {}, confirmed, now=NOW + timedelta(minutes=3))
    assert [e.type for e in second.events] == [EventType.ENDED, EventType.ENDED]
    other = started("other", 5)
    config = fast_config(
        hook.url,
        events=frozenset({EventType.ENDED}),
        sources=frozenset({"main"}),
        context_types=frozenset({"Course"}),
    )
    commits = [("main", first), ("main", second), ("other", other)]
    got = await deliver(make_store, hook=hook, http=http, config=config, commits=commits, wanted=1)
    assert got == [second.events[0].id]  # conference 1 (a course) ended, from main


# configuration


def raw_config(**sink: Any) -> dict[str, Any]:
    source = {"base_url": "https://canvas.example.edu", "token": "t0ken"}
    return {
        "sources": [{"name": "main", **source}, {"name": "other", **source}],
        "sinks": [{"name": "ops", "type": "webhook", "url": "https://h.example.edu/x", **sink}],
    }


def test_filters_parse() -> None:
    (sink,) = parse(
        raw_config(
            events=["conference.ended"],
            sources=["other"],
            conference_types=["BigBlueButton"],
            context_types=["Course", "Group"],
        )
    ).sinks
    assert sink.events == frozenset({EventType.ENDED})
    assert sink.sources == frozenset({"other"})
    assert sink.conference_types == frozenset({"BigBlueButton"})
    assert sink.context_types == frozenset({"Course", "Group"})
    (unfiltered,) = parse(raw_config()).sinks
    assert (unfiltered.sources, unfiltered.conference_types, unfiltered.context_types) == (
        None,
        None,
        None,
    )


def test_an_unknown_source_in_a_sink_filter_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse(raw_config(sources=["main", "archive"]))
    assert error.value.field.startswith("sinks[0].sources")
    assert "'archive'" in error.value.message


def test_the_error_names_the_list_item_that_is_wrong() -> None:
    with pytest.raises(ConfigError) as error:
        parse(raw_config(sources=["main", "archive"]))
    assert error.value.field == "sinks[0].sources[1]"


def test_an_unknown_context_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse(raw_config(context_types=["Course", "Account"]))
    assert error.value.field.startswith("sinks[0].context_types")


# extra headers


@pytest.mark.parametrize(
    "name",
    [
        "content-type",
        "Content-Length",
        "Host",
        "webhook-id",
        "Webhook-Timestamp",
        "WEBHOOK-SIGNATURE",
    ],
)
def test_reserved_headers_are_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(raw_config(headers={name: "x"}))
    assert error.value.field == f"sinks[0].headers.{name}"
    assert "set by the monitor" in error.value.message


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"bad header": "x"}, "not a valid HTTP header name"),
        ({"X-Key": f"{HEADER_VALUE}\r\nX-Injected: 1"}, "line breaks"),
        (["X-Key"], "mapping"),
    ],
)
def test_bad_headers_are_a_config_error(headers: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(raw_config(headers=headers))
    assert error.value.field.startswith("sinks[0].headers")
    assert fragment in error.value.message
    assert HEADER_VALUE not in str(error.value)


def test_only_webhook_sinks_take_headers() -> None:
    raw = raw_config(headers={"X-Key": "x"})
    raw["sinks"][0].update(type="slack", url="https://hooks.slack.com/services/T/B/x")
    with pytest.raises(ConfigError) as error:
        parse(raw)
    assert error.value.field == "sinks[0].headers"


def test_header_values_never_show_in_repr() -> None:
    settings = parse(raw_config(headers={"Authorization": f"Bearer {HEADER_VALUE}"}))
    (sink,) = settings.sinks
    assert [(n, v.reveal()) for n, v in sink.headers] == [
        ("Authorization", f"Bearer {HEADER_VALUE}")
    ]
    for text in (repr(sink), str(sink), repr(settings), repr(sink.headers)):
        assert HEADER_VALUE not in text


async def test_extra_headers_are_sent_and_never_logged(
    make_store: StoreFactory, hook: Receiver, http: aiohttp.ClientSession
) -> None:
    store = await open_outbox(make_store)
    outcome = started("main", 1, 2)
    failing, fine = outcome.events
    hook.script[failing.id] = [503]  # fails until its retries run out: every failure is logged
    config = fast_config(
        hook.url,
        retry_schedule=FAST_SCHEDULE,
        headers=(("Authorization", Secret(f"Bearer {HEADER_VALUE}")), ("X-Tenant", Secret("t1"))),
    )
    with structlog.testing.capture_logs() as logs:
        async with running_sink(config, store, http) as run:
            await store.commit("main", 0, outcome)
            await hook.wait_for(1)
            await backlog_is(store, 0)
            await run.finish()

    for request in hook.requests:
        assert request.headers["authorization"] == f"Bearer {HEADER_VALUE}"
        assert request.headers["x-tenant"] == "t1"
        assert request.headers["webhook-id"] in (failing.id, fine.id)  # not replaced
    assert any(line["event"] == "dead_lettered" for line in logs)  # there was much to log
    letters = await store.dead_letters("ops")
    for text in (str(logs), repr(run.runner.__dict__), repr(config), repr(letters)):
        assert HEADER_VALUE not in text
