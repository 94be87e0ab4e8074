"""Sink settings: where events go, which ones, how fast, and how hard to retry.

Chat sinks (Slack, Teams) send one message at a time, paced, and group bursts into digests;
webhook sinks send one event per request, several at once, and are never grouped. Keys that do
not fit a sink's type are errors, not silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from monitor.config import fields
from monitor.config.reader import Reader, integer, list_of, number, one_of, string
from monitor.core.errors import ConfigError
from monitor.core.models import EventType
from monitor.core.secret import Secret


class SinkType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    TEAMS = "teams"
    CONSOLE = "console"  # prints each event; what `demo` uses

    @property
    def chat(self) -> bool:
        return self in (SinkType.SLACK, SinkType.TEAMS)


#: The Standard Webhooks recommendation: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
#: 20 h, 24 h (each the wait before that attempt; about three days in all).
DEFAULT_SCHEDULE: Final = (
    0.0,
    5.0,
    300.0,
    1800.0,
    7200.0,
    18000.0,
    36000.0,
    50400.0,
    72000.0,
    86400.0,
)
#: Messages per second a chat endpoint accepts (Slack: about 1; Teams connectors: 4).
DEFAULT_RATE: Final = {SinkType.SLACK: 1.0, SinkType.TEAMS: 4.0}
CONTEXT_TYPES: Final = ("Course", "Group")
_HEADER: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_RESERVED: Final = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp",
     "webhook-signature"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SinkConfig:
    name: str
    type: SinkType
    url: Secret = field(repr=False)  # Slack and Teams URLs are credentials (url or url_file)
    secret: Secret | None = field(default=None, repr=False)  # whsec_<base64> (or secret_file)
    events: frozenset[EventType] = frozenset(EventType)
    sources: frozenset[str] | None = None  # None: every source
    conference_types: frozenset[str] | None = None  # None: every type
    context_types: frozenset[str] | None = None  # None: courses and groups
    headers: tuple[tuple[str, Secret], ...] = field(default=(), repr=False)  # webhook only
    timeout: float = 15.0
    concurrency: int = 8  # requests in flight; chat sinks always send one at a time
    rate: float | None = None  # messages per second at most; None: unpaced
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    group_wait: float = 10.0  # chat only: how long the first event of a burst waits for others
    digest_threshold: int = 3  # chat only: more events than this in one group_wait: a digest
    ca_file: str | None = None  # trust these CAs instead of the system's (always verified)

    def wants(self, event_type: str, source: str, conference_type: str, context_type: str) -> bool:
        """Does this sink's filter let an event through?"""
        return (
            event_type in self.events
            and (self.sources is None or source in self.sources)
            and (self.conference_types is None or conference_type in self.conference_types)
            and (self.context_types is None or context_type in self.context_types)
        )


def parse_sink(raw: object, path: str, source_names: frozenset[str]) -> SinkConfig:
    r = Reader(raw, path)
    kind = SinkType(r.get("type", one_of(*SinkType)))
    _refuse(r, kind)
    optional_names = list_of(string)
    sink = SinkConfig(
        name=r.get("name", fields.name),
        type=kind,
        url=_url(r, kind),
        secret=fields.value_or_file(r, "secret", fields.signing_secret, None),
        events=frozenset(r.get("events", list_of(fields.event_type), tuple(EventType))),
        sources=_names(r, "sources", source_names),
        conference_types=_set(r.get("conference_types", optional_names, None)),
        context_types=_set(r.get("context_types", list_of(one_of(*CONTEXT_TYPES)), None)),
        headers=r.get("headers", _headers, ()),
        timeout=r.get("timeout", number(0, exclusive=True), 15.0),
        concurrency=r.get("concurrency", integer(1), 1 if kind.chat else 8),
        rate=r.get("rate", number(0, exclusive=True), DEFAULT_RATE.get(kind)),
        retry_schedule=r.get("retry_schedule", _schedule, DEFAULT_SCHEDULE),
        group_wait=r.get("group_wait", number(0), 10.0),
        digest_threshold=r.get("digest_threshold", integer(1), 3),
        ca_file=r.get("ca_file", fields.ca_file, None),
    )
    r.finish()
    return sink


def _url(r: Reader, kind: SinkType) -> Secret:
    if kind is SinkType.CONSOLE:  # prints; sends nowhere
        return fields.value_or_file(r, "url", fields.url, Secret(""))
    return fields.value_or_file(r, "url", fields.url)


def _refuse(r: Reader, kind: SinkType) -> None:
    """Keys that mean nothing for this type of sink."""
    only = {
        "secret": "only webhook sinks are signed",
        "secret_file": "only webhook sinks are signed",
        "headers": "only webhook sinks send extra headers",
        "group_wait": "webhook sinks are never grouped: one event per request",
        "digest_threshold": "webhook sinks are never grouped: one event per request",
        "concurrency": "chat sinks send one message at a time, in order",
    }
    for key, why in only.items():
        chat_only = key in ("group_wait", "digest_threshold")
        misplaced = (
            kind.chat
            if key == "concurrency"
            else (not kind.chat if chat_only else kind is not SinkType.WEBHOOK)
        )
        if misplaced and r.has(key):
            raise ConfigError(r.field(key), f"{why}, not {kind} sinks")


def _set(values: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _names(r: Reader, key: str, known: frozenset[str]) -> frozenset[str] | None:
    names = r.get(key, list_of(string), None)
    for i, name in enumerate(names or ()):
        if name not in known:
            raise ConfigError(f"{r.field(key)}[{i}]", f"no source is named {name!r}")
    return _set(names)


def _headers(value: object, field: str) -> tuple[tuple[str, Secret], ...]:
    if not isinstance(value, dict):
        raise ConfigError(field, "expected a mapping of header names to values")
    headers = []
    for name, raw in value.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not _HEADER.fullmatch(name):
            raise ConfigError(where, "not a valid HTTP header name")
        if name.lower() in _RESERVED:
            raise ConfigError(where, "is set by the monitor itself")
        text = string(raw, where)
        if "\r" in text or "\n" in text:
            raise ConfigError(where, "a header value cannot contain line breaks")
        headers.append((name, Secret(text)))  # values are often credentials
    return tuple(headers)


def _schedule(value: object, field: str) -> tuple[float, ...]:
    delays = list_of(number(0))(value, field)
    if not delays:
        raise ConfigError(field, "needs at least one attempt")
    if delays[0] != 0:
        raise ConfigError(f"{field}[0]", "the first attempt is immediate: start the list with 0")
    return delays
