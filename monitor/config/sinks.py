"""Sink settings: where events go, which ones, how fast, and how hard to retry.

Chat sinks (Slack, Teams) send one message at a time, paced, and group bursts into digests;
webhook sinks send one event per request, several at once, and are never grouped. Keys that do
not fit a sink's type are errors, not silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from pydantic import AfterValidator, Field, PlainValidator, ValidationInfo, model_validator
from pydantic import field_validator as validates

from monitor.config.fields import (
    CaFile,
    Event,
    Float,
    Id,
    Int,
    Name,
    SecretUrl,
    SetOf,
    SigningSecret,
    Text,
    TupleOf,
    one_of,
    signing_secret,
    string,
    url,
)
from monitor.config.reader import SCHEMA, given, invalid, value_or_file
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
_WEBHOOK: Final = frozenset({SinkType.WEBHOOK})
_CHAT: Final = frozenset({SinkType.SLACK, SinkType.TEAMS})
#: Keys that mean something for some types of sink only: which, and why not for the others.
_ONLY: Final = {
    "secret": (_WEBHOOK, "only webhook sinks are signed"),
    "secret_file": (_WEBHOOK, "only webhook sinks are signed"),
    "headers": (_WEBHOOK, "only webhook sinks send extra headers"),
    "group_wait": (_CHAT, "webhook sinks are never grouped: one event per request"),
    "digest_threshold": (_CHAT, "webhook sinks are never grouped: one event per request"),
    "concurrency": (frozenset(SinkType) - _CHAT, "chat sinks send one message at a time, in order"),
}


def _headers(value: object) -> tuple[tuple[str, Secret], ...]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of header names to values")
    headers = []
    for name, raw in value.items():
        if not isinstance(name, str) or not _HEADER.fullmatch(name):
            raise invalid("not a valid HTTP header name", str(name))
        if name.lower() in _RESERVED:
            raise invalid("is set by the monitor itself", name)
        try:
            text = string(raw)
        except ValueError as exc:
            raise invalid(str(exc), name) from None
        if "\r" in text or "\n" in text:
            raise invalid("a header value cannot contain line breaks", name)
        headers.append((name, Secret(text)))  # values are often credentials
    return tuple(headers)


def _immediate(delays: tuple[float, ...]) -> tuple[float, ...]:
    if not delays:
        raise ValueError("needs at least one attempt")
    if delays[0] != 0:
        raise invalid("the first attempt is immediate: start the list with 0", "[0]")
    return delays


Headers = Annotated[tuple[tuple[str, Secret], ...], PlainValidator(_headers)]
Schedule = Annotated[TupleOf[Annotated[Float, Field(ge=0)]], AfterValidator(_immediate)]
ContextType = Annotated[str, one_of(*CONTEXT_TYPES)]


@dataclass(frozen=True, slots=True)
class SinkConfig:
    __pydantic_config__: ClassVar = SCHEMA
    FILES: ClassVar = ("url", "secret")  # each may be read from <key>_file instead

    name: Name
    type: Annotated[SinkType, one_of(*SinkType), AfterValidator(SinkType)]
    url: SecretUrl = field(repr=False)  # Slack and Teams URLs are credentials
    secret: SigningSecret | None = field(default=None, repr=False)  # whsec_<base64>
    events: SetOf[Event] = frozenset(EventType)
    sources: SetOf[Text] | None = None  # None: every source
    conference_types: SetOf[Text] | None = None  # None: every type
    context_types: SetOf[ContextType] | None = None  # None: courses and groups
    accounts: SetOf[Id] | None = None  # courses of these accounts (sub-accounts too); None: all
    courses: SetOf[Id] | None = None  # these courses (and their groups); None: all
    headers: Headers = field(default=(), repr=False)  # webhook only
    timeout: Annotated[Float, Field(gt=0)] = 15.0
    concurrency: Annotated[Int, Field(ge=1)] = 8  # in flight; chat sinks send one at a time
    rate: Annotated[Float, Field(gt=0)] | None = None  # messages per second at most; None: unpaced
    retry_schedule: Schedule = DEFAULT_SCHEDULE
    group_wait: Annotated[Float, Field(ge=0)] = 10.0  # chat only: a burst's first event waits
    digest_threshold: Annotated[Int, Field(ge=1)] = 3  # chat only: more in one wait: a digest
    ca_file: CaFile | None = None  # trust these CAs instead of the system's (always verified)

    def wants(self, event_type: str, source: str, conference_type: str, context_type: str) -> bool:
        """Does this sink's filter let an event through?"""
        return (
            event_type in self.events
            and (self.sources is None or source in self.sources)
            and (self.conference_types is None or conference_type in self.conference_types)
            and (self.context_types is None or context_type in self.context_types)
        )

    @model_validator(mode="before")
    @classmethod
    def _by_type(cls, data: object) -> dict[str, Any]:
        """What depends on the sink's type: the keys it refuses, its defaults, whether it needs
        a URL (a bad or missing type is reported by the type's own check)."""
        keys = given(cls, data)
        try:
            kind = SinkType(str(keys.get("type")).strip())
        except ValueError:
            return keys
        for key, (types, why) in _ONLY.items():
            if key in keys and kind not in types:
                raise invalid(f"{why}, not {kind} sinks", key)
        keys = value_or_file(keys, "url", url, required=kind is not SinkType.CONSOLE)
        keys = value_or_file(keys, "secret", signing_secret, required=False)
        defaults = {"url": Secret(""), "concurrency": 1 if kind.chat else 8}
        return defaults | ({"rate": DEFAULT_RATE[kind]} if kind in DEFAULT_RATE else {}) | keys

    @validates("sources", mode="before")
    @classmethod
    def _known_sources(cls, value: object, info: ValidationInfo) -> object:
        """Each name must be a configured source's (``Settings`` puts theirs in the context)."""
        known = (info.context or {}).get("sources")
        if known is None or not isinstance(value, list):
            return value
        for i, name in enumerate(value):
            if isinstance(name, str) and name.strip() not in known:
                raise invalid(f"no source is named {name.strip()!r}", f"[{i}]")
        return value
