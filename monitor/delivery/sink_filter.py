"""Which outbox entries a sink wants, and when each event was detected (for the lag metric).

Both come from the event's body; a filter by department (``accounts``, ``courses``) also asks
the account tree (``routes``). Parsing all of it was a tenth of a delivery's CPU time at
thousands of deliveries a second, while a sink that filters on event types alone needs only the
detection time, which our own bodies carry as their second key (``models.Event.body``:
compact JSON, ``{"type":…,"timestamp":…,…}``). So such a sink reads it from there, and parses
the whole body only for a filter on its contents, or a body that does not begin that way.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from monitor.config.settings import SinkConfig
from monitor.core.models import EnvelopeFacts, envelope_facts
from monitor.delivery.routes import Routes
from monitor.store.values import OutboxEntry

_LEADING_TIME: Final = re.compile(rb'\{"type":"[^"\\]*","timestamp":"([^"\\]{1,40})"')


class SinkFilter:
    def __init__(self, config: SinkConfig, routes: Routes | None = None) -> None:
        self._config = config
        self._routes = routes if routes is not None else Routes()
        self._by_place = config.accounts is not None or config.courses is not None
        self._by_type_only = (
            config.sources is None
            and config.conference_types is None
            and config.context_types is None
            and not self._by_place
        )

    async def refresh(self) -> None:
        """Keep the account trees fresh (only a sink that routes by department reads them)."""
        if self._by_place:
            await self._routes.refresh()

    def wants(self, entry: OutboxEntry) -> tuple[bool, float | None]:
        """Does the sink's filter let this event through, and when was it detected (if known)?"""
        if self._by_type_only and (found := _LEADING_TIME.match(entry.body)):
            try:
                detected = datetime.fromisoformat(found[1].decode()).timestamp()
            except ValueError:
                pass
            else:
                return entry.type in self._config.events, detected
        facts = envelope_facts(entry.body)
        if facts is None:
            return entry.type in self._config.events, None  # not ours to judge: deliver it
        wanted = self._config.wants(
            entry.type, facts.source, facts.conference_type, facts.context_type
        )
        return wanted and (not self._by_place or self._in_place(facts)), facts.detected

    def _in_place(self, facts: EnvelopeFacts) -> bool:
        """``accounts`` (sub-accounts included) or ``courses`` (and their groups): either."""
        config, routes = self._config, self._routes
        if config.courses is not None:
            course = routes.course_of(facts.source, facts.context_type, facts.context_id)
            if course in config.courses:
                return True
        return config.accounts is not None and routes.in_accounts(
            facts.source, facts.account_id, config.accounts
        )
