"""Settings: parsed once, from YAML or the environment, into frozen values.

The schema is a public contract (docs/design.md), and these dataclasses are it: each field's
annotation says what a user may write (``fields``), pydantic checks a tree against them
(``reader.read``), and every error names its field; the process exits 78. Secrets (tokens,
webhook URLs, signing keys, the Redis URL) are ``Secret`` values and never printed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import Field, PlainValidator, ValidationInfo, model_validator
from pydantic import field_validator as validates

from monitor.config.environment import settings_tree
from monitor.config.fields import (
    DEFAULT_LISTEN,
    BaseUrl,
    CaFile,
    Flag,
    Float,
    Id,
    Int,
    Listen,
    ListenAddress,
    Name,
    SecretText,
    StateUrl,
    TupleOf,
    http_path,
    https_url,
    number,
    one_of,
    secret,
    state_url,
)
from monitor.config.reader import (
    NOT_A_KEY,
    SCHEMA,
    given,
    interpolate,
    invalid,
    read,
    value_or_file,
)
from monitor.config.sinks import SinkConfig, SinkType
from monitor.core.errors import ConfigError
from monitor.core.secret import Secret

__all__ = ["Listen", "LiveEventsConfig", "Settings", "SinkConfig", "SinkType", "SourceConfig"]


@dataclass(frozen=True, slots=True)
class SourceConfig:
    __pydantic_config__: ClassVar = SCHEMA
    FILES: ClassVar = ("token",)  # each may be read from <key>_file instead

    name: Name
    base_url: BaseUrl  # without a trailing slash
    token: SecretText = field(repr=False)
    courses: TupleOf[Id] = ()
    groups: TupleOf[Id] = ()
    accounts: TupleOf[Id] = ()  # every course of these accounts and of their sub-accounts
    discovery_interval: Annotated[Float, Field(ge=1)] = 900.0  # re-reads of accounts' courses
    discover_groups: Flag = False  # also read the groups of discovered courses (a request each)
    announce_existing: Flag = False
    request_timeout: Annotated[Float, Field(gt=0)] = 10.0  # one HTTP request to Canvas
    poll_timeout: Annotated[Float, Field(gt=0)] = 30.0  # a whole poll: pages, retries, waits
    rate_limit: Annotated[Float, Field(gt=0)] = 20.0  # requests per second on this token, at most
    confirm_grace: Annotated[Int, Field(ge=1)] = 3  # polls a failed confirmation is retried
    ca_file: CaFile | None = None  # trust these CAs instead of the system's (TLS always verified)

    @model_validator(mode="before")
    @classmethod
    def _token(cls, data: object) -> dict[str, Any]:
        return value_or_file(given(cls, data), "token", secret, required=True)


@dataclass(frozen=True, slots=True)
class LiveEventsConfig:
    """Canvas Live Events, taken as hints (docs/design.md): where they are POSTed, and how they
    are verified."""

    __pydantic_config__: ClassVar = SCHEMA

    path: Annotated[str, PlainValidator(http_path)] = "/canvas/live-events"
    jwks_url: Annotated[str, PlainValidator(https_url)] | None = None  # for signed events
    allow_unsigned: Flag = False  # unsigned event JSON too (only behind a private network)

    @model_validator(mode="before")
    @classmethod
    def _given(cls, data: object) -> dict[str, Any]:
        return given(cls, data)

    @model_validator(mode="after")
    def _verified(self) -> LiveEventsConfig:
        if self.jwks_url is None and not self.allow_unsigned:
            raise invalid("set jwks_url (to verify signed events) or allow_unsigned: true")
        return self


@dataclass(frozen=True, slots=True)
class Settings:
    __pydantic_config__: ClassVar = SCHEMA
    FILES: ClassVar = ("state_url",)  # each may be read from <key>_file instead

    sources: Annotated[tuple[SourceConfig, ...], Field(min_length=1)]
    sinks: tuple[SinkConfig, ...] = ()
    poll_interval: Annotated[Float, Field(ge=0.1)] = 30.0
    state_url: StateUrl = field(default_factory=lambda: Secret("memory://"), repr=False)
    listen: ListenAddress = DEFAULT_LISTEN
    log_level: Annotated[str, one_of("debug", "info", "warning", "error")] = "info"
    log_format: Annotated[str, one_of("auto", "json", "console")] = "auto"
    shutdown_timeout: Annotated[Float, Field(gt=0)] = 10.0  # in-flight deliveries' time on stop
    lease_ttl: Annotated[Float, Field(ge=1)] = 15.0  # replicas: a silent replica's work moves on
    api_token: SecretText | None = field(default=None, repr=False)  # protects /api/v1 and /
    live_events: LiveEventsConfig | None = None  # POST /canvas/live-events: hints (not yet read)
    history_max_events: Annotated[Int, Field(ge=1, le=1_000_000)] = 10_000  # /api/v1/events
    history_max_age: Annotated[Float, Field(gt=0)] = 604_800.0  # seconds (7 days)
    warnings: tuple[str, ...] = field(default=(), compare=False, metadata=NOT_A_KEY)

    @model_validator(mode="before")
    @classmethod
    def _top(cls, data: object) -> dict[str, Any]:
        """A source's ``poll_timeout`` defaults to ``max(10, poll_interval)``: a poll may take
        as long as the interval, never less than 10 s (a bad interval is its own error)."""
        keys = value_or_file(given(cls, data), "state_url", state_url, required=False)
        try:
            timeout = max(10.0, number(keys.get("poll_interval", 30.0)))
        except ValueError:
            timeout = 30.0
        if isinstance(sources := keys.get("sources"), list):
            keys["sources"] = [
                s | {"poll_timeout": timeout}
                if isinstance(s, dict) and s.get("poll_timeout") is None
                else s
                for s in sources
            ]
        return keys

    @validates("sources")
    @classmethod
    def _unique_sources(
        cls, sources: tuple[SourceConfig, ...], info: ValidationInfo
    ) -> tuple[SourceConfig, ...]:
        if info.context is not None:  # what the sinks' ``sources`` filters may name
            info.context["sources"] = frozenset(s.name for s in sources)
        return _unique(sources)

    @validates("sinks")
    @classmethod
    def _unique_sinks(cls, sinks: tuple[SinkConfig, ...]) -> tuple[SinkConfig, ...]:
        return _unique(sinks)


Named = TypeVar("Named", SourceConfig, SinkConfig)


def _unique(items: tuple[Named, ...]) -> tuple[Named, ...]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            raise invalid(f"duplicate name {item.name!r}", f"[{i}].name")
        seen.add(item.name)
    return items


def load_file(
    path: str | Path, env: Mapping[str, str] | None = None, *, named_by: str = "--config"
) -> Settings:
    """Read a YAML config file; ``${VAR}`` is replaced from the environment.

    ``named_by`` is what the user used to name the file (``--config`` or ``MONITOR_CONFIG``),
    so an unreadable file is reported against it.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(named_by, f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), f"{problem}{where}") from None
    return parse(interpolate(raw, "", env))


def parse(raw: object) -> Settings:
    """Validate a plain tree (already interpolated) into ``Settings``."""
    settings = read(Settings, raw)
    return dataclasses.replace(settings, warnings=_warnings(settings))


def _warnings(settings: Settings) -> tuple[str, ...]:
    """Set-ups that run but are probably not what was meant: said once at start."""
    interval, sources = settings.poll_interval, settings.sources
    warnings = []
    remote = [s for s in sources if not _loopback(s.base_url)]
    if interval < 5 and remote:
        warnings.append(
            f"poll_interval {interval:g}s is below 5s for {', '.join(s.name for s in remote)}: "
            "every poll spends the token's Canvas rate limit"
        )
    warnings.extend(
        f"source {s.name}: base_url is http://, so the Canvas token crosses the network "
        "in clear text; use https://"
        for s in remote
        if urlsplit(s.base_url).scheme == "http"
    )
    warnings.extend(
        f"source {s.name}: discovery_interval {s.discovery_interval:g}s is below 60s: every "
        "re-read of the accounts' course lists spends the token's rate limit"
        for s in sources
        if s.accounts and s.discovery_interval < 60
    )
    if not settings.sinks:
        warnings.append(
            "no sinks: events are sent nowhere (the console at /, /api/v1/live and the metrics "
            "show what is live); add one under sinks:, or set WEBHOOK_URL, SLACK_WEBHOOK_URL or "
            "TEAMS_WEBHOOK_URL without a config file"
        )
    return tuple(warnings)


def _loopback(url: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: a token sent there never leaves the machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name
        return False


def from_environment(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables alone (containers); see docs/design.md."""
    environ = dict(os.environ if env is None else env)
    raw, names = settings_tree(environ)
    try:
        return parse(raw)
    except ConfigError as exc:
        raise ConfigError(_variable_for(exc.field, names), exc.message) from None


def _variable_for(field: str, names: Mapping[str, str]) -> str:
    """The variable behind ``field`` or behind the list or mapping that contains it."""
    for path, variable in sorted(names.items(), key=lambda item: -len(item[0])):
        if field == path or field.startswith((f"{path}[", f"{path}.")):
            return variable
    return field
