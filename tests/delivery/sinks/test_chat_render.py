"""ChatSink.render: every entry lands in exactly one message, duplicates of an event included."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from monitor.config.settings import SinkConfig, SinkType
from monitor.core.secret import Secret
from monitor.delivery.sinks import ChatSink
from tests.support.delivery_helpers import entry_of, started


@pytest.mark.parametrize("threshold", [1, 10])  # a digest, and single messages
async def test_a_duplicated_event_rides_in_one_message_with_its_copies(threshold: int) -> None:
    events = started("main", 1, 2).events
    first = entry_of(events[0], "1-0")
    copy = replace(first, entry_id="7-0")  # the same event, committed twice
    other = entry_of(events[1], "2-0")
    config = SinkConfig(
        "chat", SinkType.SLACK, Secret("https://hooks.slack.test/x"), digest_threshold=threshold
    )
    async with aiohttp.ClientSession() as session:
        messages = ChatSink(config, session).render([first, copy, other])
    carried = [entry.ref for message in messages for entry in message.entries]
    assert sorted(carried) == sorted(e.ref for e in (first, copy, other))  # each exactly once
    (holding,) = [m for m in messages if first in m.entries]
    assert copy in holding.entries
