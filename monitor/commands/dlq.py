"""`conference-monitor dlq`: the dead-letter queues, for a person (or a script with --json).

``list`` shows what each sink gave up on and why; ``replay`` sends dead letters back for
delivery (and enables a disabled sink: replaying says the endpoint is fixed); ``purge``
forgets them. It talks to the service's store, so it needs a persistent ``state_url``, and
nothing else: ``STATE_URL`` (or ``REDIS_URL``) alone will do (``store_settings``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from monitor.config.environment import sink_types
from monitor.config.fields import file_text, state_url
from monitor.config.reader import checked
from monitor.config.settings import Settings, SinkConfig, SinkType
from monitor.core.errors import ConfigError
from monitor.core.secret import Secret
from monitor.delivery import dead_letters
from monitor.replicas.identity import base_name
from monitor.store.base import open_store
from monitor.store.roles import Store
from monitor.store.values import DeadLetter

_STORE_VARIABLES = ("STATE_URL", "STATE_URL_FILE", "REDIS_URL", "REDIS_URL_FILE")


def store_settings(env: Mapping[str, str]) -> Settings:
    """Settings with the store alone, for ``dlq`` when no config file names a Canvas.

    The sinks are those the environment names (``WEBHOOK_URL`` is the sink ``webhook``, as
    ``run`` calls it), and ``--sink`` may name any other: no config says which exist.
    """
    variable = next((name for name in _STORE_VARIABLES if env.get(name)), None)
    if variable is None:
        raise ConfigError(
            "--config",
            "dlq works on the service's store and needs only its URL: give --config PATH, "
            "set MONITOR_CONFIG, or set STATE_URL (or REDIS_URL, or either's _FILE) to the "
            "redis:// URL the service uses",
        )
    sinks = tuple(
        SinkConfig(name, SinkType(kind), Secret("")) for name, kind in sink_types(env).items()
    )
    text = env[variable]
    text = checked(file_text, text, variable) if variable.endswith("_FILE") else text
    url = _shared(checked(state_url, text, variable), variable)
    return Settings(sources=(), sinks=sinks, state_url=url)


def _shared(url: Secret, field: str) -> Secret:
    if url.reveal().startswith("memory:"):
        raise ConfigError(
            field,
            "memory:// lives inside the running service; dead letters need a shared store "
            "(redis://...)",
        )
    return url


def _open(settings: Settings, sink: str | None) -> tuple[Store, list[str]]:
    _shared(settings.state_url, "state_url")
    names = [s.name for s in settings.sinks]
    store_only = not settings.sources  # ``store_settings``: no config lists the sinks
    if sink is not None and sink not in names and not store_only:
        raise ConfigError("--sink", f"no sink named {sink!r} (configured: {', '.join(names)})")
    if sink is None and not names and store_only:
        raise ConfigError(
            "--sink",
            "without a config, name the sink (as the service's config names it) with --sink, "
            "or set the variables that make it (WEBHOOK_URL, SLACK_WEBHOOK_URL, ...)",
        )
    return open_store(settings.state_url, consumer=base_name()), [sink] if sink else names


def _describe(dead: DeadLetter) -> dict[str, Any]:
    try:
        event = json.loads(dead.entry.body)
        conference = event["data"]["conference"]
    except (ValueError, KeyError, TypeError):
        event, conference = None, {}
    return {
        "sink": dead.sink,
        "event_id": dead.entry.event_id,
        "type": dead.entry.type,
        "source": dead.entry.source,
        "conference_id": conference.get("id"),
        "title": conference.get("title"),
        "reason": dead.reason,
        "attempts": dead.attempts,
        "dead_at": dead_letters.iso(dead.dead_at),
        "event": event,
    }


async def list_dead(settings: Settings, sink: str | None, out: TextIO, *, as_json: bool) -> int:
    store, sinks = _open(settings, sink)
    try:
        rows = [_describe(dead) for name in sinks for dead in await store.dead_letters(name)]
        disabled = {name: await store.sink_disabled(name) for name in sinks}
    finally:
        await store.close()
    if as_json:
        print(json.dumps(rows, indent=2), file=out)
        return 0
    for name, why in disabled.items():
        if why is not None:
            print(f"sink {name} is DISABLED: {why.reason}", file=out)
    if not rows:
        print("no dead letters", file=out)
        return 0
    _table(rows, out)
    return 0


def _table(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    columns = ("sink", "dead_at", "type", "conference", "attempts", "event_id", "reason")
    cells = [
        {
            **row,
            "type": str(row["type"]).removeprefix("conference."),
            "conference": f"{row['conference_id']} {row['title'] or ''}".strip()[:40],
        }
        for row in rows
    ]
    widths = {c: max(len(c), *(len(str(cell[c])) for cell in cells)) for c in columns[:-1]}
    print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns), file=out)
    for cell in cells:
        print("  ".join(str(cell[c]).ljust(widths.get(c, 0)) for c in columns), file=out)


async def replay(
    settings: Settings, sink: str | None, event_id: str | None, out: TextIO, *, as_json: bool
) -> int:
    store, sinks = _open(settings, sink)
    counts: dict[str, int] = {}
    try:
        for name in sinks:
            chosen = None if event_id is None else {event_id}
            counts[name] = await dead_letters.replay(store, name, chosen)
    finally:
        await store.close()
    if as_json:
        print(json.dumps({"replayed": counts}), file=out)
    else:
        for name, count in counts.items():
            print(f"sink {name}: {count} dead letter(s) sent back for delivery", file=out)
    if event_id is not None and not any(counts.values()):
        print(f"no dead letter has event id {event_id}", file=out)
        return 1
    return 0


async def purge(settings: Settings, sink: str | None, out: TextIO, *, confirmed: bool) -> int:
    if not confirmed:
        print("purging forgets these events for good; add --yes to do it", file=out)
        return 1
    store, sinks = _open(settings, sink)
    try:
        for name in sinks:
            count = await dead_letters.purge(store, name)
            print(f"sink {name}: {count} dead letter(s) purged", file=out)
    finally:
        await store.close()
    return 0
