"""Settings: parsed once, from YAML or the environment, into frozen values.

The schema is a public contract (docs/design.md); every error names its field and the process
exits 78. Secrets (tokens, webhook URLs, signing keys, the Redis URL) are ``Secret`` values and
never printed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from monitor.config import fields
from monitor.config.environment import settings_tree
from monitor.config.fields import DEFAULT_LISTEN, Listen
from monitor.config.reader import (
    Reader,
    a_list,
    boolean,
    integer,
    interpolate,
    list_of,
    non_empty_list,
    number,
    one_of,
)
from monitor.config.sinks import SinkConfig, SinkType, parse_sink
from monitor.core.errors import ConfigError
from monitor.core.secret import Secret

__all__ = ["Listen", "Settings", "SinkConfig", "SinkType", "SourceConfig"]


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    base_url: str  # without a trailing slash
    token: Secret = field(repr=False)
    courses: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    accounts: tuple[int, ...] = ()  # every course of these accounts and their sub-accounts
    discovery_interval: float = 900.0  # seconds between re-reads of the accounts' courses
    discover_groups: bool = False  # also each discovered course's groups (a request per course)
    announce_existing: bool = False
    request_timeout: float = 10.0  # one HTTP request to Canvas
    poll_timeout: float = 30.0  # a whole poll: every page, retry and throttle wait
    rate_limit: float = 20.0  # requests per second on this token, at most
    confirm_grace: int = 3  # polls a transient confirmation failure is retried
    ca_file: str | None = None  # trust these CAs instead of the system's (TLS is always verified)


@dataclass(frozen=True, slots=True)
class Settings:
    sources: tuple[SourceConfig, ...]
    sinks: tuple[SinkConfig, ...] = ()
    poll_interval: float = 30.0
    state_url: Secret = field(default_factory=lambda: Secret("memory://"), repr=False)
    listen: Listen = DEFAULT_LISTEN
    log_level: str = "info"
    log_format: str = "auto"
    shutdown_timeout: float = 10.0  # how long in-flight deliveries may finish on stop
    lease_ttl: float = 15.0  # replicas: how long a source or sink stays with a silent replica
    api_token: Secret | None = field(default=None, repr=False)  # protects /api/v1 and /
    warnings: tuple[str, ...] = field(default=(), compare=False)


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
    top = Reader(raw, "")
    interval = top.get("poll_interval", number(0.1), 30.0)
    sources_raw = top.get("sources", non_empty_list)
    sources = tuple(_source(item, f"sources[{i}]", interval) for i, item in enumerate(sources_raw))
    names = frozenset(source.name for source in sources)
    sinks = tuple(
        parse_sink(item, f"sinks[{i}]", names)
        for i, item in enumerate(top.get("sinks", a_list, []))
    )
    _unique(sources, "sources")
    _unique(sinks, "sinks")
    settings = Settings(
        sources=sources,
        sinks=sinks,
        poll_interval=interval,
        state_url=fields.value_or_file(top, "state_url", fields.state_url, Secret("memory://")),
        listen=top.get("listen", fields.listen, DEFAULT_LISTEN),
        log_level=top.get("log_level", one_of("debug", "info", "warning", "error"), "info"),
        log_format=top.get("log_format", one_of("auto", "json", "console"), "auto"),
        shutdown_timeout=top.get("shutdown_timeout", number(0, exclusive=True), 10.0),
        lease_ttl=top.get("lease_ttl", number(1), 15.0),
        api_token=top.get("api_token", fields.secret, None),
        warnings=_warnings(interval, sources, sinks),
    )
    top.finish()
    return settings


def _source(raw: object, path: str, interval: float) -> SourceConfig:
    r = Reader(raw, path)
    token = fields.value_or_file(r, "token", fields.secret)
    ids = list_of(integer(1))
    source = SourceConfig(
        name=r.get("name", fields.name),
        base_url=r.get("base_url", fields.base_url),
        token=token,
        courses=r.get("courses", ids, ()),
        groups=r.get("groups", ids, ()),
        accounts=r.get("accounts", ids, ()),
        discovery_interval=r.get("discovery_interval", number(1), 900.0),
        discover_groups=r.get("discover_groups", boolean, False),
        announce_existing=r.get("announce_existing", boolean, False),
        request_timeout=r.get("request_timeout", number(0, exclusive=True), 10.0),
        poll_timeout=r.get("poll_timeout", number(0, exclusive=True), max(10.0, interval)),
        rate_limit=r.get("rate_limit", number(0, exclusive=True), 20.0),
        confirm_grace=r.get("confirm_grace", integer(1), 3),
        ca_file=r.get("ca_file", fields.ca_file, None),
    )
    r.finish()
    return source


def _unique(items: tuple[SourceConfig | SinkConfig, ...], field: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            raise ConfigError(f"{field}[{i}].name", f"duplicate name {item.name!r}")
        seen.add(item.name)


def _warnings(
    interval: float, sources: tuple[SourceConfig, ...], sinks: tuple[SinkConfig, ...]
) -> tuple[str, ...]:
    """Set-ups that run but are probably not what was meant: said once at start."""
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
    if not sinks:
        warnings.append(
            "no sinks: events are sent nowhere (the status page, /api/v1/live and the metrics "
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
