"""The config keys of institution-wide coverage (docs/design.md, "Watching a whole institution"):
a source's ``accounts``, ``discovery_interval`` and ``discover_groups``; the ``live_events``
block; the sinks' ``accounts`` and ``courses`` filters; ``CANVAS_ACCOUNTS``. Each parses into
frozen values, and each mistake names its field."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from monitor.config.settings import LiveEventsConfig, from_environment, parse
from monitor.core.errors import ConfigError

TOKEN = "institution-test-token-9c0d"
JWKS = "https://keys.example.edu/live-events/jwks"
BASE_ENV = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN": TOKEN}


def source(**keys: Any) -> dict[str, Any]:
    return {"name": "campus", "base_url": "https://canvas.example.edu", "token": TOKEN, **keys}


def sink(**keys: Any) -> dict[str, Any]:
    return {"name": "biology-dept", "type": "slack", "url": "https://hooks.slack.com/x", **keys}


def error_of(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    return caught.value


# a source's accounts


def test_the_design_example_of_a_campus_source() -> None:
    settings = parse(
        {
            "sources": [source(accounts=[1], discovery_interval=900, rate_limit=20)],
            "live_events": {"path": "/canvas/live-events", "jwks_url": JWKS},
            "sinks": [sink(accounts=[3], courses=[101])],
        }
    )
    (campus,) = settings.sources
    assert campus.accounts == (1,)
    assert campus.discovery_interval == 900.0
    assert campus.discover_groups is False
    assert settings.live_events == LiveEventsConfig("/canvas/live-events", JWKS, False)
    (biology,) = settings.sinks
    assert biology.accounts == frozenset({3})
    assert biology.courses == frozenset({101})
    assert settings.warnings == ()


def test_defaults_watch_no_account_and_read_no_live_events() -> None:
    settings = parse({"sources": [source()], "sinks": [sink()]})
    (campus,) = settings.sources
    assert (campus.accounts, campus.discovery_interval, campus.discover_groups) == ((), 900, False)
    assert settings.live_events is None
    assert (settings.sinks[0].accounts, settings.sinks[0].courses) == (None, None)


def test_discover_groups_and_a_short_discovery_interval() -> None:
    settings = parse(
        {
            "sources": [source(accounts=[1, 7], discovery_interval="30", discover_groups="yes")],
            "sinks": [sink()],
        }
    )
    (campus,) = settings.sources
    assert campus.accounts == (1, 7)
    assert campus.discover_groups is True
    (warning,) = settings.warnings
    assert "campus" in warning
    assert "discovery_interval 30s is below 60s" in warning


def test_a_short_discovery_interval_without_accounts_does_not_warn() -> None:
    settings = parse({"sources": [source(discovery_interval=5)], "sinks": [sink()]})
    assert settings.warnings == ()


def with_source(**keys: Any) -> dict[str, Any]:
    return {"sources": [source(**keys)]}


def with_sink(**keys: Any) -> dict[str, Any]:
    return {"sources": [source()], "sinks": [sink(**keys)]}


def with_live_events(block: object) -> dict[str, Any]:
    return {"sources": [source()], "live_events": block}


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("account zero", with_source(accounts=[1, 0]), "sources[0].accounts[1]", "at least 1"),
    ("account a name", with_source(accounts=["root"]), "sources[0].accounts[0]", "whole number"),
    ("accounts a mapping", with_source(accounts={"id": 1}), "sources[0].accounts", "a list"),
    ("accounts a typo", with_source(acounts=[1]), "sources[0].acounts", "'accounts'"),
    (
        "discovery too short",
        with_source(discovery_interval=0.5),
        "sources[0].discovery_interval",
        "at least 1, got 0.5",
    ),
    (
        "discovery not a number",
        with_source(discovery_interval="hourly"),
        "sources[0].discovery_interval",
        "expected a number",
    ),
    (
        "discovery a typo",
        with_source(discovery_intervall=900),
        "sources[0].discovery_intervall",
        "did you mean 'discovery_interval'",
    ),
    (
        "discover_groups not a boolean",
        with_source(discover_groups=1),
        "sources[0].discover_groups",
        "expected true or false",
    ),
    ("sink account zero", with_sink(accounts=[0]), "sinks[0].accounts[0]", "at least 1"),
    ("sink course a word", with_sink(courses=[101, "bio"]), "sinks[0].courses[1]", "whole number"),
    ("sink courses a typo", with_sink(curses=[101]), "sinks[0].curses", "'courses'"),
    ("live_events empty", with_live_events({}), "live_events", "jwks_url"),
    (
        "live_events unsigned refused",
        with_live_events({"allow_unsigned": "false"}),
        "live_events",
        "allow_unsigned: true",
    ),
    (
        "jwks_url over http",
        with_live_events({"jwks_url": "http://keys.example.edu/jwks"}),
        "live_events.jwks_url",
        "https://",
    ),
    (
        "jwks_url not a URL",
        with_live_events({"jwks_url": "keys"}),
        "live_events.jwks_url",
        "http(s)",
    ),
    (
        "path without a slash",
        with_live_events({"path": "canvas/live-events", "allow_unsigned": True}),
        "live_events.path",
        "starts with /",
    ),
    (
        "allow_unsigned not a boolean",
        with_live_events({"allow_unsigned": "sometimes"}),
        "live_events.allow_unsigned",
        "expected true or false",
    ),
    (
        "live_events a typo",
        with_live_events({"jwks": JWKS}),
        "live_events.jwks",
        "did you mean 'jwks_url'",
    ),
    ("live_events a list", with_live_events([JWKS]), "live_events", "expected a mapping"),
    ("live_event a typo", {"sources": [source()], "live_event": {}}, "live_event", "'live_events'"),
]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_every_error_names_its_field(raw: dict[str, Any], field: str, fragment: str) -> None:
    error = error_of(raw)
    assert error.field == field
    assert fragment in error.message


# live_events


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"jwks_url": JWKS}, LiveEventsConfig(jwks_url=JWKS)),
        ({"allow_unsigned": True}, LiveEventsConfig(allow_unsigned=True)),
        (
            {"path": "/hooks/canvas", "jwks_url": JWKS, "allow_unsigned": True},
            LiveEventsConfig("/hooks/canvas", JWKS, True),
        ),
    ],
)
def test_live_events_forms(block: dict[str, Any], expected: LiveEventsConfig) -> None:
    live = parse(with_live_events(block)).live_events
    assert live == expected
    assert live is not None
    assert live.path.startswith("/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        live.allow_unsigned = False  # type: ignore[misc]


def test_a_null_live_events_block_is_no_block() -> None:
    assert parse(with_live_events(None)).live_events is None


# the sinks' filters are parsed, not applied yet (routing needs the account tree)


def test_sink_filters_do_not_route_yet() -> None:
    (biology,) = parse(with_sink(accounts="3, 4", courses=[101])).sinks
    assert biology.accounts == frozenset({3, 4})
    assert biology.wants("conference.started", "campus", "BigBlueButton", "Course")


# the environment


def test_canvas_accounts() -> None:
    settings = from_environment({**BASE_ENV, "CANVAS_ACCOUNTS": "1, 12"})
    assert settings.sources[0].accounts == (1, 12)


def test_canvas_accounts_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, "CANVAS_ACCOUNTS": "1,root"})
    assert caught.value.field == "CANVAS_ACCOUNTS"
    assert "whole number" in caught.value.message
