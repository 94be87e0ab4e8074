"""Webhook URLs and signing keys read from files (``url_file``, ``secret_file``; in the
environment ``*_FILE``), as Kubernetes mounts a Secret: stripped, checked like the value, kept
secret, and every problem a configuration error that names the field."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from monitor.config.settings import Settings, from_environment, parse
from monitor.core.errors import ConfigError
from monitor.simulator import Simulator
from tests.support.cli import CONFIG, WHSEC, config_text, run_async, run_cli, write
from tests.support.receiver import Receiver

URL = "https://hooks.example.edu/conferences/url-file-secret-path-4242"
SOURCE = {"name": "main", "base_url": "https://canvas.example.edu", "token": "t0ken-of-tests"}
BASE_ENV = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_TOKEN": "t0ken-of-tests"}


def sink(**keys: Any) -> dict[str, Any]:
    return {"name": "ops", "type": "webhook", **keys}


def parse_sink(**keys: Any) -> Settings:
    return parse({"sources": [SOURCE], "sinks": [sink(**keys)]})


def error_of(**keys: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_sink(**keys)
    return caught.value


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A URL file and a key file as a mounted Secret has them: a trailing newline each."""
    (tmp_path / "url").write_text(f"  {URL}\n", encoding="utf-8")
    (tmp_path / "key").write_text(f"{WHSEC}\n\n", encoding="utf-8")
    return {"url": tmp_path / "url", "key": tmp_path / "key"}


def test_url_file_and_secret_file_are_read_and_stripped(files: dict[str, Path]) -> None:
    (ops,) = parse_sink(url_file=str(files["url"]), secret_file=str(files["key"])).sinks
    assert ops.url.reveal() == URL
    assert ops.secret is not None
    assert ops.secret.reveal() == WHSEC


def test_chat_sinks_take_url_file(files: dict[str, Path]) -> None:
    (chat,) = parse_sink(type="slack", url_file=str(files["url"])).sinks
    assert chat.url.reveal() == URL


@pytest.mark.parametrize(
    ("keys", "field", "fragment"),
    [
        ({}, "sinks[0].url", "set exactly one of url or url_file"),
        ({"url": URL, "url_file": "FILE"}, "sinks[0].url", "set exactly one of url or url_file"),
        (
            {"url": URL, "secret": WHSEC, "secret_file": "FILE"},
            "sinks[0].secret",
            "set at most one of secret or secret_file",
        ),
        (
            {"type": "slack", "url": URL, "secret_file": "FILE"},
            "sinks[0].secret_file",
            "only webhook sinks are signed",
        ),
    ],
    ids=["neither url", "both urls", "both secrets", "secret_file on slack"],
)
def test_which_keys_to_set(
    files: dict[str, Path], keys: dict[str, Any], field: str, fragment: str
) -> None:
    keys = {k: str(files["key"]) if v == "FILE" else v for k, v in keys.items()}
    error = error_of(**keys)
    assert error.field == field
    assert fragment in error.message


@pytest.mark.parametrize("key", ["url_file", "secret_file"])
@pytest.mark.parametrize("problem", ["missing", "directory", "empty"])
def test_file_problems_name_the_field_and_the_path(
    tmp_path: Path, files: dict[str, Path], key: str, problem: str
) -> None:
    match problem:
        case "missing":
            path = tmp_path / "no-such-file"
        case "directory":
            path = tmp_path
        case _:
            path = write(tmp_path, " \n", name="blank")
    keys = {"url_file": str(files["url"]), key: str(path)}
    error = error_of(**keys)
    assert error.field == f"sinks[0].{key}"
    assert str(path) in error.message
    assert ("empty" if problem == "empty" else "cannot read") in error.message


@pytest.mark.parametrize(
    ("key", "content", "fragment"),
    [
        ("url_file", "ftp://hooks.example.edu/ftp-secret-path-99", "http(s)"),
        ("secret_file", "whsec-but-wrong-key-secret-99", "whsec_"),
    ],
)
def test_bad_content_names_the_field_and_never_shows_the_content(
    tmp_path: Path, key: str, content: str, fragment: str
) -> None:
    path = write(tmp_path, content + "\n", name="mounted")
    keys = {"url": URL, key: str(path)} if key == "secret_file" else {key: str(path)}
    error = error_of(**keys)
    assert error.field == f"sinks[0].{key}"
    assert fragment in error.message
    assert str(path) in error.message
    assert content not in str(error)


def test_file_contents_never_show_in_repr(files: dict[str, Path]) -> None:
    settings = parse_sink(url_file=str(files["url"]), secret_file=str(files["key"]))
    for shown in (repr(settings), str(settings), repr(settings.sinks[0]), f"{settings.sinks}"):
        assert URL not in shown
        assert WHSEC not in shown


# environment-only set-up: *_FILE twins


def test_environment_file_variables(files: dict[str, Path]) -> None:
    settings = from_environment(
        {
            **BASE_ENV,
            "WEBHOOK_URL_FILE": str(files["url"]),
            "WEBHOOK_SECRET_FILE": str(files["key"]),
            "SLACK_WEBHOOK_URL_FILE": str(files["url"]),
            "TEAMS_WEBHOOK_URL_FILE": str(files["url"]),
        }
    )
    webhook, slack, teams = settings.sinks
    assert (webhook.type, slack.type, teams.type) == ("webhook", "slack", "teams")
    assert {s.url.reveal() for s in settings.sinks} == {URL}
    assert webhook.secret is not None
    assert webhook.secret.reveal() == WHSEC
    assert slack.secret is None


@pytest.mark.parametrize("variable", ["STATE_URL", "REDIS_URL"])
def test_the_store_url_from_a_file_in_the_environment(tmp_path: Path, variable: str) -> None:
    """``STATE_URL_FILE`` (or ``REDIS_URL_FILE``): silently ignored, replicas would each get a
    memory store of their own."""
    url = "redis://:pw-7Rk@redis.example.edu:6379/2"
    path = tmp_path / "redis-url"
    path.write_text(url + "\n", encoding="utf-8")
    settings = from_environment({**BASE_ENV, f"{variable}_FILE": str(path)})
    assert settings.state_url.reveal() == url
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, variable: url, f"{variable}_FILE": str(path)})
    assert caught.value.field == variable
    assert "pw-7Rk" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WEBHOOK_URL": "http://[::1/hook"}, "WEBHOOK_URL"),
        ({"CANVAS_BASE_URL": "https://[canvas"}, "CANVAS_BASE_URL"),
    ],
)
def test_an_unclosed_ipv6_bracket_is_a_config_error(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_environment({**BASE_ENV, **env})
    assert caught.value.field == variable
    assert "IPv6" in caught.value.message


@pytest.mark.parametrize(
    ("extra", "variable", "fragment"),
    [
        (
            {"WEBHOOK_URL": URL, "WEBHOOK_URL_FILE": "URL"},
            "WEBHOOK_URL",
            "set at most one of WEBHOOK_URL or WEBHOOK_URL_FILE",
        ),
        (
            {"WEBHOOK_URL": URL, "WEBHOOK_SECRET": WHSEC, "WEBHOOK_SECRET_FILE": "KEY"},
            "WEBHOOK_SECRET",
            "set at most one of WEBHOOK_SECRET or WEBHOOK_SECRET_FILE",
        ),
        (
            {"SLACK_WEBHOOK_URL": URL, "SLACK_WEBHOOK_URL_FILE": "URL"},
            "SLACK_WEBHOOK_URL",
            "SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE",
        ),
        ({"WEBHOOK_URL_FILE": "/no/such/url"}, "WEBHOOK_URL_FILE", "cannot read /no/such/url"),
        ({"TEAMS_WEBHOOK_URL_FILE": "KEY"}, "TEAMS_WEBHOOK_URL_FILE", "http(s)"),
        (
            {"WEBHOOK_URL": URL, "WEBHOOK_SECRET_FILE": "/no/such/key"},
            "WEBHOOK_SECRET_FILE",
            "cannot read",
        ),
        ({"WEBHOOK_SECRET_FILE": "KEY"}, "WEBHOOK_SECRET_FILE", "WEBHOOK_URL is not"),
    ],
)
def test_environment_file_errors_name_the_variable(
    files: dict[str, Path], extra: dict[str, str], variable: str, fragment: str
) -> None:
    named = {"URL": str(files["url"]), "KEY": str(files["key"])}
    env = {**BASE_ENV, **{k: named.get(v, v) for k, v in extra.items()}}
    with pytest.raises(ConfigError) as caught:
        from_environment(env)
    assert caught.value.field == variable
    assert fragment in caught.value.message
    assert WHSEC not in str(caught.value)


# the real process


def test_an_unreadable_url_file_exits_78_naming_the_field(tmp_path: Path) -> None:
    text = config_text("https://canvas.example.edu")
    text += f"sinks:\n  - name: ops\n    type: webhook\n    url_file: {tmp_path / 'gone'}\n"
    result = run_cli("check", "--config", str(write(tmp_path, text)))
    assert result.returncode == CONFIG, result.stderr
    assert "sinks[0].url_file: cannot read" in result.stderr


def test_bad_file_content_exits_78_without_showing_it(tmp_path: Path) -> None:
    key = "whsec_" + base64.b64encode(b"short").decode()  # too short a key: refused
    path = write(tmp_path, key + "\n", name="key")
    text = config_text("https://canvas.example.edu")
    text += f"sinks:\n  - name: ops\n    type: webhook\n    url: {URL}\n    secret_file: {path}\n"
    result = run_cli("run", "--config", str(write(tmp_path, text)))
    assert result.returncode == CONFIG, result.stderr
    assert "sinks[0].secret_file" in result.stderr
    assert key not in result.stderr + result.stdout


async def test_check_sends_a_signed_test_event_to_the_url_in_the_file(tmp_path: Path) -> None:
    async with Simulator() as sim, Receiver() as hook:
        url_path = write(tmp_path, hook.url + "\n", name="webhook-url")
        key_path = write(tmp_path, WHSEC + "\n", name="webhook-secret")
        sinks = (
            "sinks:\n  - name: ops\n    type: webhook\n"
            f"    url_file: {url_path}\n    secret_file: {key_path}\n"
        )
        config = write(tmp_path, config_text(sim.url, sinks=sinks))
        code, out, err = await run_async("check", "--config", str(config), "--send-test")
    assert code == 0, out + err
    (request,) = hook.requests
    assert Webhook(WHSEC).verify(request.body, request.headers)["type"] == "monitor.test"
    assert hook.url not in out + err


# the Redis URL, whose password is a secret too


def test_state_url_file(tmp_path: Path) -> None:
    redis = "redis://:state-file-password-31@redis.example.edu:6379/0"
    path = write(tmp_path, redis + "\n", name="redis-url")
    settings = parse({"state_url_file": str(path), "sources": [SOURCE]})
    assert settings.state_url.reveal() == redis
    assert "state-file-password-31" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        parse({"state_url": redis, "state_url_file": str(path), "sources": [SOURCE]})
    assert str(caught.value) == "state_url: set at most one of state_url or state_url_file"
    bad = write(tmp_path, "mysql://:state-file-password-31@db/0\n", name="bad")
    with pytest.raises(ConfigError) as caught:
        parse({"state_url_file": str(bad), "sources": [SOURCE]})
    assert caught.value.field == "state_url_file"
    assert "state-file-password-31" not in str(caught.value)
