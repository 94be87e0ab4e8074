"""``examples/monitor.yaml`` loads, and shows every key of the schema, no more: a key added to
the config code without an example line, or an example line the code does not know, fails here.

The schema's keys are those of the config dataclasses at each level (``reader.keys``, what "did
you mean" guesses among); the example's are read from its YAML.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import reader
from monitor.config.settings import (
    LiveEventsConfig,
    Settings,
    SinkConfig,
    SinkType,
    SourceConfig,
    load_file,
)
from monitor.core.errors import ConfigError
from tests.support.paths import ROOT

EXAMPLE = ROOT / "examples" / "monitor.yaml"
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY_LINE = re.compile(r"^\s*(?:- )?([a-z_]+):")
COMMENTED_KEY = re.compile(r"^\s*# ([a-z_]+): ", re.MULTILINE)


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """The variables the example uses, and the files it reads, as a site would set them."""
    for name, text in {
        "canvas-token": "main-canvas-token-example-1",
        "campus-ca.pem": PEM,
        "archive-url": "https://archive.example.edu/hooks/example-secret-path\n",
        "archive-secret": WHSEC + "\n",
    }.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return {
        "CREDENTIALS_DIRECTORY": str(tmp_path),
        "REDIS_PASSWORD": "redis-example-password",
        "MONITOR_API_TOKEN": "api-example-token",
        "CANVAS_BETA_TOKEN": "beta-canvas-token-example-2",
        "WEBHOOK_SECRET": WHSEC,
        "RECEIVER_TOKEN": "receiver-example-token",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/example",
        "TEAMS_WEBHOOK_URL": "https://example.webhook.office.com/webhookb2/example",
    }


SCHEMAS: dict[str, type[Any]] = {
    "": Settings,
    "sources[]": SourceConfig,
    "sinks[]": SinkConfig,
    "live_events": LiveEventsConfig,
}


def load_recording(
    path: Path, env: dict[str, str]
) -> tuple[Settings, dict[str, set[str]], dict[str, set[str]]]:
    """Load ``path``; return the settings and, per level of the file (``""``, ``sources[]``,
    ``sinks[]``, ``live_events``), the schema's keys and the keys the file sets."""
    settings = load_file(path, env)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    given: dict[str, set[str]] = defaultdict(set)
    given[""] |= set(raw)
    for level in ("sources", "sinks"):
        for item in raw.get(level) or ():
            given[f"{level}[]"] |= set(item)
    if raw.get("live_events"):
        given["live_events"] |= set(raw["live_events"])
    known = {level: set(reader.keys(schema)) for level, schema in SCHEMAS.items() if level in given}
    return settings, known, given


def test_the_example_loads_with_no_warning(environment: dict[str, str]) -> None:
    settings, _, _ = load_recording(EXAMPLE, environment)
    assert settings.warnings == ()
    assert [s.name for s in settings.sources] == ["main", "beta"]
    assert settings.sources[0].token.reveal() == "main-canvas-token-example-1"
    by_name = {s.name: s for s in settings.sinks}
    assert by_name["archive"].url.reveal().startswith("https://archive.example.edu/")
    assert by_name["ops"].secret == by_name["archive"].secret
    assert {s.type for s in settings.sinks} == set(SinkType) - {SinkType.CONSOLE}


def test_the_example_shows_every_key_of_the_schema(environment: dict[str, str]) -> None:
    _, known, given = load_recording(EXAMPLE, environment)
    assert set(known) == {"", "sources[]", "sinks[]", "live_events"}
    # A key that cannot stand next to its alternative (state_url_file) is shown commented out.
    alternatives = set(COMMENTED_KEY.findall(EXAMPLE.read_text(encoding="utf-8")))
    for level in known:
        missing = known[level] - given[level] - alternatives
        assert missing == set(), f"missing from the example at {level!r}"
        assert given[level] - known[level] == set(), f"unknown in the example at {level!r}"


def test_every_key_is_explained() -> None:
    """Each key has a comment on its line (or just above it) at least once: a second sink
    repeating ``type:`` need not say it again."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    keys: set[str] = set()
    explained: set[str] = set()
    for number, line in enumerate(lines):
        if match := KEY_LINE.match(line):
            keys.add(match.group(1))
            if "#" in line or lines[number - 1].lstrip().startswith("#"):
                explained.add(match.group(1))
    assert keys - explained == set()


def test_a_missing_or_unknown_key_fails_the_check(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """The check above notices both ways of drifting apart."""
    text = EXAMPLE.read_text(encoding="utf-8")
    without = write_copy(tmp_path, text.replace("    confirm_grace: 3", "    # (removed)"))
    _, known, given = load_recording(without, environment)
    assert known["sources[]"] - given["sources[]"] == {"confirm_grace"}
    with pytest.raises(ConfigError, match="unknown key"):
        load_file(write_copy(tmp_path, text + "made_up_key: 1\n"), environment)


def write_copy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(text, encoding="utf-8")
    return path
