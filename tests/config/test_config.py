"""Configuration: the YAML file and the environment-only set-up, parsed once into frozen values.

Every mistake is a ``ConfigError`` whose ``field`` names where it is (a key path in the file, or
the environment variable the user set), so the CLI can exit 78 with a message a person can act
on. Secrets are ``Secret`` values that never show in ``repr()``.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from monitor.config.settings import (
    Listen,
    Settings,
    SinkConfig,
    SinkType,
    SourceConfig,
    from_environment,
    load_file,
    parse,
)
from monitor.core.errors import ConfigError
from monitor.core.models import EventType
from monitor.core.secret import Secret

TOKEN = "canvas-token-for-config-tests-1a2b"
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()

DESIGN_EXAMPLE = """\
poll_interval: 30            # seconds, float, >= 0.1
state_url: redis://127.0.0.1:6379/0
listen: 127.0.0.1:9464
sources:
  - name: main
    base_url: https://canvas.example.edu
    token: ${CANVAS_TOKEN}
    courses: [101, 202]
    groups: [7]
sinks:
  - name: ops
    type: webhook
    url: https://hooks.example.edu/conferences
    secret: ${WEBHOOK_SECRET}
    events: [conference.started, conference.ended]
"""

MINIMAL = """\
sources:
  - name: main
    base_url: https://canvas.example.edu
    token: plain-token-value
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def source(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "main",
        "base_url": "https://canvas.example.edu",
        "token": TOKEN,
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not ...}


def sink(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": "ops", "type": "webhook", "url": "https://hooks.example.edu/x"}
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not ...}


def config_error(raw: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    return caught.value


# the example in docs/design.md, and the defaults


def test_design_example_parses_into_frozen_values(tmp_path: Path) -> None:
    path = write(tmp_path, DESIGN_EXAMPLE)
    settings = load_file(path, env={"CANVAS_TOKEN": TOKEN, "WEBHOOK_SECRET": WHSEC})

    assert settings.poll_interval == 30.0
    assert settings.state_url == Secret("redis://127.0.0.1:6379/0")
    assert settings.listen == Listen("127.0.0.1", 9464)
    assert settings.warnings == ()
    (src,) = settings.sources
    assert src.name == "main"
    assert src.base_url == "https://canvas.example.edu"
    assert src.token.reveal() == TOKEN
    assert src.courses == (101, 202)
    assert src.groups == (7,)
    assert src.announce_existing is False
    assert src.poll_timeout == 30.0
    (ops,) = settings.sinks
    assert ops.name == "ops"
    assert ops.type is SinkType.WEBHOOK
    assert ops.url.reveal() == "https://hooks.example.edu/conferences"
    assert ops.secret is not None
    assert ops.secret.reveal() == WHSEC
    assert ops.events == frozenset({EventType.STARTED, EventType.ENDED})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.poll_interval = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        src.token = Secret("other")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ops.url = Secret("https://elsewhere.example.edu")  # type: ignore[misc]
    assert isinstance(settings.sources, tuple)
    assert isinstance(src.courses, tuple)
    assert isinstance(ops.events, frozenset)


def test_defaults(tmp_path: Path) -> None:
    settings = load_file(write(tmp_path, MINIMAL), env={})

    assert settings.poll_interval == 30.0
    assert settings.state_url.reveal() == "memory://"
    assert settings.listen == Listen("127.0.0.1", 9464)
    assert str(settings.listen) == "127.0.0.1:9464"
    assert settings.sinks == ()
    (no_sinks,) = settings.warnings
    assert no_sinks.startswith("no sinks")
    (src,) = settings.sources
    assert src.announce_existing is False
    assert src.courses == ()
    assert src.groups == ()
    assert src.poll_timeout == 30.0  # max(10, poll_interval)


@pytest.mark.parametrize(
    ("interval", "poll_timeout"), [(0.5, 10.0), (10, 10.0), (30, 30.0), (120, 120.0)]
)
def test_poll_timeout_defaults_to_at_least_ten_seconds_and_the_interval(
    interval: float, poll_timeout: float
) -> None:
    settings = parse(
        {"poll_interval": interval, "sources": [source(base_url="http://127.0.0.1:8900")]}
    )
    assert settings.sources[0].poll_timeout == poll_timeout


def test_explicit_poll_timeout_wins() -> None:
    settings = parse({"poll_interval": 60, "sources": [source(poll_timeout=5)]})
    assert settings.sources[0].poll_timeout == 5.0


def test_sink_events_default_to_all() -> None:
    settings = parse({"sources": [source()], "sinks": [sink()]})
    assert settings.sinks[0].events == frozenset(EventType)
    assert settings.sinks[0].secret is None


def test_sink_events_filter() -> None:
    settings = parse({"sources": [source()], "sinks": [sink(events=["conference.ended"])]})
    assert settings.sinks[0].events == frozenset({EventType.ENDED})


def test_announce_existing_and_listen_forms() -> None:
    settings = parse(
        {"sources": [source(announce_existing=True)], "listen": ":9999", "poll_interval": 2.5}
    )
    assert settings.sources[0].announce_existing is True
    assert settings.listen == Listen("0.0.0.0", 9999)  # noqa: S104 - ":port" means all
    assert settings.poll_interval == 2.5
    ipv6 = parse({"sources": [source()], "listen": "[::1]:9464"})
    assert ipv6.listen == Listen("::1", 9464)
    assert str(ipv6.listen) == "[::1]:9464"


def test_base_url_trailing_slash_is_dropped() -> None:
    settings = parse({"sources": [source(base_url="https://canvas.example.edu/")]})
    assert settings.sources[0].base_url == "https://canvas.example.edu"


# ${VAR} interpolation


def test_variables_are_replaced_from_the_given_environment(tmp_path: Path) -> None:
    text = """\
poll_interval: ${INTERVAL}
sources:
  - name: main
    base_url: https://${HOST}/
    token: ${CANVAS_TOKEN}
    courses: ["${COURSE}", 202]
"""
    settings = load_file(
        write(tmp_path, text),
        env={
            "INTERVAL": "12.5",
            "HOST": "canvas.example.edu",
            "CANVAS_TOKEN": TOKEN,
            "COURSE": "9",
        },
    )
    assert settings.poll_interval == 12.5
    assert settings.sources[0].base_url == "https://canvas.example.edu"
    assert settings.sources[0].token.reveal() == TOKEN
    assert settings.sources[0].courses == (9, 202)


def test_double_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    text = MINIMAL.replace("plain-token-value", "tok$$en-$${NOT_A_VAR}")
    settings = load_file(write(tmp_path, text), env={})
    assert settings.sources[0].token.reveal() == "tok$en-${NOT_A_VAR}"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("    token: ${CANVAS_TOKEN}", "sources[0].token"),
        ("    token: x\n    courses: [101, '${COURSE}']", "sources[0].courses[1]"),
    ],
)
def test_unset_variable_names_the_key_and_the_variable(
    tmp_path: Path, line: str, field: str
) -> None:
    text = f"sources:\n  - name: main\n    base_url: https://canvas.example.edu\n{line}\n"
    with pytest.raises(ConfigError) as caught:
        load_file(write(tmp_path, text), env={"UNRELATED": "1"})
    assert caught.value.field == field
    variable = "CANVAS_TOKEN" if "CANVAS_TOKEN" in line else "COURSE"
    assert variable in caught.value.message
    assert "not set" in caught.value.message


def test_unset_variable_at_the_top_level(tmp_path: Path) -> None:
    text = "state_url: ${REDIS_URL}\n" + MINIMAL
    with pytest.raises(ConfigError) as caught:
        load_file(write(tmp_path, text), env={})
    assert caught.value.field == "state_url"
    assert "REDIS_URL" in caught.value.message


def test_load_file_without_env_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIG_TEST_TOKEN", TOKEN)
    text = MINIMAL.replace("plain-token-value", "${CONFIG_TEST_TOKEN}")
    assert load_file(write(tmp_path, text)).sources[0].token.reveal() == TOKEN


# token_file


def test_token_file_is_read_and_stripped(tmp_path: Path) -> None:
    token_path = write(tmp_path, f"  {TOKEN}\n\n", name="token")
    settings = parse(
        {"sources": [source(token=..., token_file=str(token_path))]},
    )
    assert settings.sources[0].token.reveal() == TOKEN


@pytest.mark.parametrize("problem", ["missing", "directory", "empty"])
def test_token_file_problems_name_the_field(tmp_path: Path, problem: str) -> None:
    match problem:
        case "missing":
            path = tmp_path / "no-such-token"
        case "directory":
            path = tmp_path
        case _:
            path = write(tmp_path, "  \n", name="token")
    error = config_error({"sources": [source(token=..., token_file=str(path))]})
    assert error.field == "sources[0].token_file"
    assert str(path) in error.message
    assert ("empty" if problem == "empty" else "cannot read") in error.message


@pytest.mark.parametrize(
    "overrides",
    [
        {"token": ...},  # neither
        {"token": TOKEN, "token_file": "/run/secrets/canvas-token"},  # both
    ],
    ids=["neither", "both"],
)
def test_exactly_one_of_token_and_token_file(overrides: dict[str, Any]) -> None:
    error = config_error({"sources": [source(**overrides)]})
    assert error.field == "sources[0].token"
    assert "token_file" in error.message


def test_null_token_next_to_token_file_is_not_an_unknown_key(tmp_path: Path) -> None:
    token_path = write(tmp_path, TOKEN, name="token")
    settings = parse({"sources": [source(token=None, token_file=str(token_path))]})
    assert settings.sources[0].token.reveal() == TOKEN


# every validation error names its field


def with_top(**top: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"sources": [source()]}
    raw.update(top)
    return raw


def with_source(**overrides: Any) -> dict[str, Any]:
    return {"sources": [source(**overrides)]}


def with_sink(**overrides: Any) -> dict[str, Any]:
    return {"sources": [source()], "sinks": [sink(**overrides)]}


INVALID: list[tuple[str, dict[str, Any] | list[Any] | None, str, str]] = [
    # unknown keys, with a did-you-mean hint, at every level
    ("unknown top key", with_top(pol_interval=3), "pol_interval", "did you mean 'poll_interval'"),
    (
        "unknown source key",
        with_source(cources=[1]),
        "sources[0].cources",
        "did you mean 'courses'",
    ),
    ("unknown sink key", with_sink(evnts=[]), "sinks[0].evnts", "did you mean 'events'"),
    ("unknown key, no hint", with_top(zzzz=1), "zzzz", "unknown key"),
    # wrong types
    ("interval not a number", with_top(poll_interval="abc"), "poll_interval", "expected a number"),
    ("interval a boolean", with_top(poll_interval=True), "poll_interval", "expected a number"),
    ("interval a list", with_top(poll_interval=[1]), "poll_interval", "expected a number"),
    ("interval infinite", with_top(poll_interval=float("inf")), "poll_interval", "finite"),
    ("interval too small", with_top(poll_interval=0.05), "poll_interval", "at least 0.1"),
    ("interval negative", with_top(poll_interval=-1), "poll_interval", "at least 0.1"),
    ("name a list", with_source(name=["main"]), "sources[0].name", "expected a string"),
    ("name empty", with_source(name="  "), "sources[0].name", "must not be empty"),
    ("token a mapping", with_source(token={"a": 1}), "sources[0].token", "expected a string"),
    (
        "announce not bool",
        with_source(announce_existing="sure"),
        "sources[0].announce_existing",
        "expected true or false",
    ),
    ("timeout zero", with_sink(timeout=0), "sinks[0].timeout", "greater than 0"),
    ("concurrency zero", with_sink(concurrency=0), "sinks[0].concurrency", "at least 1"),
    ("sources a mapping", {"sources": {"name": "main"}}, "sources", "expected a list"),
    ("sinks a mapping", with_top(sinks={"name": "ops"}), "sinks", "expected a list"),
    ("source not a mapping", {"sources": ["main"]}, "sources[0]", "expected a mapping"),
    ("log level", with_top(log_level="loud"), "log_level", "must be one of"),
    # names
    ("bad name", with_source(name="Main!"), "sources[0].name", "[a-z0-9_-]+"),
    ("upper-case name", with_source(name="Main"), "sources[0].name", "[a-z0-9_-]+"),
    ("bad sink name", with_sink(name="ops team"), "sinks[0].name", "[a-z0-9_-]+"),
    ("duplicate source", {"sources": [source(), source()]}, "sources[1].name", "duplicate"),
    (
        "duplicate sink",
        {"sources": [source()], "sinks": [sink(), sink(url="https://h.edu/2")]},
        "sinks[1].name",
        "duplicate",
    ),
    # base_url
    (
        "base_url ftp",
        with_source(base_url="ftp://canvas.example.edu"),
        "sources[0].base_url",
        "http(s)",
    ),
    (
        "base_url no scheme",
        with_source(base_url="canvas.example.edu"),
        "sources[0].base_url",
        "http(s)",
    ),
    (
        "base_url query",
        with_source(base_url="https://canvas.example.edu/?a=1"),
        "sources[0].base_url",
        "no query",
    ),
    (
        "base_url fragment",
        with_source(base_url="https://canvas.example.edu/#x"),
        "sources[0].base_url",
        "fragment",
    ),
    (
        "base_url user",
        with_source(base_url="https://me@canvas.example.edu"),
        "sources[0].base_url",
        "credentials",
    ),
    (
        "base_url bad port",
        with_source(base_url="https://canvas.example.edu:99999"),
        "sources[0].base_url",
        "port",
    ),
    # sinks
    ("sink url not a URL", with_sink(url="not a url"), "sinks[0].url", "http(s)"),
    ("sink url mailto", with_sink(url="mailto:ops@example.edu"), "sinks[0].url", "http(s)"),
    ("sink url missing", with_sink(url=...), "sinks[0].url", "exactly one of url or url_file"),
    ("sink type unknown", with_sink(type="email"), "sinks[0].type", "must be one of"),
    ("sink type missing", with_sink(type=...), "sinks[0].type", "is required"),
    (
        "secret not whsec",
        with_sink(secret="hunter2-hunter2-hunter2-hunter2"),
        "sinks[0].secret",
        "whsec_",
    ),
    ("secret bad base64", with_sink(secret="whsec_not*base64!"), "sinks[0].secret", "base64"),
    (
        "secret too short",
        with_sink(secret="whsec_" + base64.b64encode(b"x" * 23).decode()),
        "sinks[0].secret",
        "24-64 bytes, got 23",
    ),
    (
        "secret too long",
        with_sink(secret="whsec_" + base64.b64encode(b"x" * 65).decode()),
        "sinks[0].secret",
        "24-64 bytes, got 65",
    ),
    (
        "secret on slack",
        with_sink(type="slack", secret=WHSEC),
        "sinks[0].secret",
        "only webhook sinks",
    ),
    (
        "secret on teams",
        with_sink(type="teams", secret=WHSEC),
        "sinks[0].secret",
        "only webhook sinks",
    ),
    (
        "unknown event",
        with_sink(events=["conference.started", "conference.paused"]),
        "sinks[0].events[1]",
        "conference.paused",
    ),
    ("events not a list", with_sink(events={"a": 1}), "sinks[0].events", "expected a list"),
    # state_url, listen, ids
    ("state_url http", with_top(state_url="http://127.0.0.1:6379"), "state_url", "scheme"),
    ("state_url bare", with_top(state_url="127.0.0.1:6379"), "state_url", "scheme"),
    ("listen without port", with_top(listen="127.0.0.1"), "listen", "host:port"),
    ("listen empty port", with_top(listen="localhost:"), "listen", "host:port"),
    ("listen port too big", with_top(listen="127.0.0.1:70000"), "listen", "out of range"),
    (
        "course not an int",
        with_source(courses=[101, "abc"]),
        "sources[0].courses[1]",
        "whole number",
    ),
    ("course a float", with_source(courses=[1.5]), "sources[0].courses[0]", "whole number"),
    ("course zero", with_source(courses=[0]), "sources[0].courses[0]", "at least 1"),
    ("group not an int", with_source(groups=["seven"]), "sources[0].groups[0]", "whole number"),
    ("courses not a list", with_source(courses={"a": 1}), "sources[0].courses", "expected a list"),
    # sources
    ("sources empty", {"sources": []}, "sources", "at least one"),
    ("sources missing", {"poll_interval": 30}, "sources", "is required"),
    ("sources null", {"sources": None}, "sources", "is required"),
    ("base_url missing", with_source(base_url=...), "sources[0].base_url", "is required"),
    ("name missing", with_source(name=...), "sources[0].name", "is required"),
    # the top level
    ("top level a list", [{"sources": []}], "(top level)", "expected a mapping, got a list"),
    ("top level empty", None, "(top level)", "expected a mapping"),
]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_every_error_names_its_field(raw: object, field: str, fragment: str) -> None:
    error = config_error(raw)
    assert error.field == field
    assert fragment in error.message
    assert str(error) == f"{field}: {error.message}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sources: [\n  - name: main\n", "line 2, column 3"),
        ("sources:\n  - name: main\n   base_url: x\n", "line 3, column 4"),
        ("poll_interval: 30\n\tsources: []\n", "line 2, column 1"),
    ],
    ids=["unclosed", "bad indent", "tab"],
)
def test_invalid_yaml_names_the_file_line_and_column(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_file(path, env={})
    assert caught.value.field == str(path)
    assert fragment in caught.value.message
    assert "column" in caught.value.message


def test_top_level_list_in_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_file(write(tmp_path, "- name: main\n"), env={})
    assert caught.value.field == "(top level)"
    assert "a list" in caught.value.message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_file(path, env={})
    assert caught.value.field == "--config"
    assert str(path) in caught.value.message


def test_ipv6_listen_without_port_is_an_error() -> None:
    error = config_error(with_top(listen="::1"))
    assert error.field == "listen"


# warnings


@pytest.mark.parametrize(
    ("base_url", "interval", "warned"),
    [
        ("https://canvas.example.edu", 1, True),
        ("https://canvas.example.edu", 4.9, True),
        ("https://canvas.example.edu", 5, False),
        ("http://127.0.0.1:8900", 0.2, False),
        ("http://localhost:8900", 0.2, False),
        ("http://[::1]:8900", 0.2, False),
    ],
)
def test_fast_polling_of_a_real_canvas_warns(base_url: str, interval: float, warned: bool) -> None:
    settings = parse(
        {"poll_interval": interval, "sources": [source(base_url=base_url)], "sinks": [sink()]}
    )
    if warned:
        (warning,) = settings.warnings
        assert "poll_interval" in warning
        assert "main" in warning
    else:
        assert settings.warnings == ()


def test_warning_names_only_the_remote_sources() -> None:
    settings = parse(
        {
            "poll_interval": 1,
            "sources": [
                source(name="local", base_url="http://127.0.0.1:8900"),
                source(name="remote", base_url="https://canvas.example.edu"),
            ],
            "sinks": [sink()],
        }
    )
    (warning,) = settings.warnings
    assert "remote" in warning
    assert "local" not in warning


# environment-only set-up


ENV_VARIABLES = (
    *("CANVAS_BASE_URL", "CANVAS_TOKEN", "CANVAS_TOKEN_FILE", "CANVAS_COURSES", "CANVAS_GROUPS"),
    *("ANNOUNCE_EXISTING", "STATE_URL", "REDIS_URL", "POLL_INTERVAL", "LISTEN", "LOG_LEVEL"),
    *("LOG_FORMAT", "WEBHOOK_URL", "WEBHOOK_SECRET", "SLACK_WEBHOOK_URL", "TEAMS_WEBHOOK_URL"),
)
BASE_ENV = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN": TOKEN}


def test_environment_minimal() -> None:
    settings = from_environment(BASE_ENV)
    (src,) = settings.sources
    assert src.name == "main"
    assert src.base_url == "https://canvas.example.edu"
    assert src.token.reveal() == TOKEN
    assert settings.sinks == ()
    assert settings.state_url.reveal() == "memory://"
    assert settings.poll_interval == 30.0
    assert settings.listen == Listen("127.0.0.1", 9464)


def test_environment_full() -> None:
    settings = from_environment(
        {
            **BASE_ENV,
            "STATE_URL": "redis://redis:6379/1",
            "REDIS_URL": "redis://ignored:6379/0",
            "POLL_INTERVAL": "15",
            "LISTEN": "0.0.0.0:9000",
            "WEBHOOK_URL": "https://hooks.example.edu/conferences",
            "WEBHOOK_SECRET": WHSEC,
            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/xyz",
            "TEAMS_WEBHOOK_URL": "https://example.webhook.office.com/webhookb2/abc",
            "UNRELATED": "ignored",
        }
    )
    assert settings.state_url.reveal() == "redis://redis:6379/1"  # STATE_URL wins
    assert settings.poll_interval == 15.0
    assert settings.listen == Listen("0.0.0.0", 9000)  # noqa: S104 - what LISTEN says
    assert settings.sources[0].poll_timeout == 15.0
    by_type = {s.type: s for s in settings.sinks}
    assert [s.type for s in settings.sinks] == [SinkType.WEBHOOK, SinkType.SLACK, SinkType.TEAMS]
    assert len({s.name for s in settings.sinks}) == 3
    webhook = by_type[SinkType.WEBHOOK]
    assert webhook.url.reveal() == "https://hooks.example.edu/conferences"
    assert webhook.secret == Secret(WHSEC)
    assert by_type[SinkType.SLACK].secret is None
    assert by_type[SinkType.SLACK].url.reveal() == "https://hooks.slack.com/services/T0/B0/xyz"
    assert by_type[SinkType.TEAMS].url.reveal().startswith("https://example.webhook.office.com/")


def test_environment_redis_url_is_the_fallback() -> None:
    settings = from_environment({**BASE_ENV, "REDIS_URL": "redis://redis:6379/0"})
    assert settings.state_url.reveal() == "redis://redis:6379/0"


def test_environment_token_file(tmp_path: Path) -> None:
    path = write(tmp_path, TOKEN + "\n", name="token")
    settings = from_environment(
        {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN_FILE": str(path)}
    )
    assert settings.sources[0].token.reveal() == TOKEN


def test_environment_fast_polling_warns() -> None:
    settings = from_environment(
        {**BASE_ENV, "POLL_INTERVAL": "1", "WEBHOOK_URL": "https://h.edu/x"}
    )
    assert len(settings.warnings) == 1


def test_environment_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CANVAS_BASE_URL", "https://canvas.example.edu")
    monkeypatch.setenv("CANVAS_TOKEN", TOKEN)
    assert from_environment().sources[0].token.reveal() == TOKEN


@pytest.mark.parametrize(
    ("extra", "variable", "fragment"),
    [
        ({"POLL_INTERVAL": "abc"}, "POLL_INTERVAL", "expected a number"),
        ({"POLL_INTERVAL": "0.01"}, "POLL_INTERVAL", "at least 0.1"),
        ({"LISTEN": "9464"}, "LISTEN", "host:port"),
        ({"STATE_URL": "http://redis:6379"}, "STATE_URL", "scheme"),
        ({"REDIS_URL": "mysql://db"}, "REDIS_URL", "scheme"),
        ({"CANVAS_BASE_URL": "canvas.example.edu"}, "CANVAS_BASE_URL", "http(s)"),
        ({"WEBHOOK_URL": "not a url"}, "WEBHOOK_URL", "http(s)"),
        ({"WEBHOOK_URL": "https://h.edu/x", "WEBHOOK_SECRET": "nope"}, "WEBHOOK_SECRET", "whsec_"),
        (
            {"WEBHOOK_URL": "https://h.edu/x", "SLACK_WEBHOOK_URL": "slack"},
            "SLACK_WEBHOOK_URL",
            "http(s)",
        ),
        ({"TEAMS_WEBHOOK_URL": "teams"}, "TEAMS_WEBHOOK_URL", "http(s)"),
        (
            {"CANVAS_TOKEN": "", "CANVAS_TOKEN_FILE": "/no/such/file"},
            "CANVAS_TOKEN_FILE",
            "cannot read",
        ),
        ({"CANVAS_TOKEN": ""}, "CANVAS_TOKEN", "CANVAS_TOKEN or CANVAS_TOKEN_FILE"),
        ({"CANVAS_TOKEN_FILE": "/run/secrets/t"}, "CANVAS_TOKEN", "exactly one"),
    ],
)
def test_environment_errors_name_the_variable(
    extra: dict[str, str], variable: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, **extra})
    assert caught.value.field == variable
    assert fragment in caught.value.message


@pytest.mark.parametrize("env", [{}, {"CANVAS_TOKEN": TOKEN}, {"CANVAS_BASE_URL": ""}])
def test_environment_without_canvas_base_url(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment(env)
    assert caught.value.field == "CANVAS_BASE_URL"
    assert "not set" in caught.value.message


def test_environment_list_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, "CANVAS_COURSES": "101,abc"})
    assert caught.value.field == "CANVAS_COURSES"


def test_environment_courses_and_groups() -> None:
    settings = from_environment({**BASE_ENV, "CANVAS_COURSES": "101, 202", "CANVAS_GROUPS": "7"})
    assert settings.sources[0].courses == (101, 202)
    assert settings.sources[0].groups == (7,)


# secrets stay out of repr() and str()

SINK_URL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxSECRETxyz"
REDIS_URL = "redis://:redis-pass-config-77@redis.example.edu:6379/0"


def secret_settings() -> Settings:
    return parse(
        {
            "state_url": REDIS_URL,
            "sources": [source()],
            "sinks": [
                sink(name="hook", url="https://hooks.example.edu/p/PATHSECRET42", secret=WHSEC),
                sink(name="chat", type="slack", url=SINK_URL),
            ],
        }
    )


def test_repr_and_str_never_show_secrets() -> None:
    settings = secret_settings()
    objects: list[object] = [
        settings,
        *settings.sources,
        *settings.sinks,
        settings.state_url,
        settings.sources[0].token,
        settings.sinks[0].url,
        settings.sinks[0].secret,
    ]
    secrets = [
        TOKEN,
        WHSEC,
        WHSEC.removeprefix("whsec_"),
        "PATHSECRET42",
        "T0SECRET",
        "xoxSECRETxyz",
        "redis-pass-config-77",
    ]
    for obj in objects:
        texts = [repr(obj), str(obj), f"{obj}", f"{obj!r}"]
        if isinstance(obj, Secret):
            texts.append(f"{obj:>40}")
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{secret!r} shows in {type(obj).__name__}: {text}"
    assert repr(settings.sources[0].token) == "Secret('***')"
    assert "main" in repr(settings.sources[0])  # the rest is still readable
    assert "https://canvas.example.edu" in repr(settings)


def test_secret_keeps_its_value_for_whoever_asks() -> None:
    secret = Secret(TOKEN)
    assert secret.reveal() == TOKEN
    assert secret == Secret(TOKEN)
    assert secret != Secret("other-token")
    assert secret != TOKEN  # a Secret is not its plain string
    assert bool(secret)
    assert not Secret("")
    assert len({secret, Secret(TOKEN)}) == 1


def test_dataclass_reprs_mark_the_secret_fields() -> None:
    hidden = {
        SourceConfig: {"token"},
        SinkConfig: {"url", "secret"},
        Settings: {"state_url"},
    }
    for cls, names in hidden.items():
        shown = {f.name for f in dataclasses.fields(cls) if f.repr}
        assert not shown & names, cls


def test_base_url_with_only_a_password_is_rejected() -> None:
    error = config_error(with_source(base_url="https://:pw-in-url-5d6e@canvas.example.edu"))
    assert error.field == "sources[0].base_url"
    assert "credentials" in error.message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:pw@host:notaport/0", "not a valid Redis URL"),
        ("redis://host:99999/0", "not a valid Redis URL"),
        ("redis://host/0?socket_timeout=x", "not a valid Redis URL"),
        ("redis://host:6379/abc", "database after the host must be a number"),
    ],
)
def test_a_bad_redis_url_is_a_config_error_that_does_not_quote_it(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(
            {
                "state_url": url,
                "sources": [{"name": "main", "base_url": "https://c.test", "token": TOKEN}],
            }
        )
    assert info.value.field == "state_url"
    assert message in info.value.message
    assert "pw" not in str(info.value)
