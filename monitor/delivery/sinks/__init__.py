"""Where events go: one ``Sink`` per configured receiver, each one POST (or print) per attempt."""

from __future__ import annotations

import aiohttp

from monitor.config.settings import SinkConfig, SinkType
from monitor.delivery.sinks.base import Attempt, Message, Sink, Verdict
from monitor.delivery.sinks.chat import ChatSink
from monitor.delivery.sinks.console import ConsoleSink
from monitor.delivery.sinks.webhook import WebhookSink, sign

__all__ = [
    "Attempt",
    "ChatSink",
    "ConsoleSink",
    "Message",
    "Sink",
    "Verdict",
    "WebhookSink",
    "make_sink",
    "sign",
]


def make_sink(config: SinkConfig, session: aiohttp.ClientSession) -> Sink:
    match config.type:
        case SinkType.WEBHOOK:
            return WebhookSink(config, session)
        case SinkType.CONSOLE:
            return ConsoleSink(config.name)
        case SinkType.SLACK | SinkType.TEAMS:
            return ChatSink(config, session)
