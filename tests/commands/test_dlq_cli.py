"""`conference-monitor dlq list|replay|purge`, run as a real process against the test's Redis,
with dead letters made by a real runner and a real receiver, or put there through the store."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.core.errors import ExitCode
from monitor.core.secret import Secret
from monitor.store.redis.store import RedisStore
from monitor.store.values import SinkDisabled
from tests.support.delivery_helpers import backlog_is, fast_config, running_sink, started
from tests.support.receiver import Receiver

MONITOR = (sys.executable, "-m", "monitor")
CONFIG = int(ExitCode.CONFIG)
GONE = "HTTP 410: endpoint gone"


def config_file(tmp_path: Path, state_url: str, ops_url: str = "http://127.0.0.1:9/ops") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"state_url: {state_url}\n"
        "sources:\n"
        "  - name: main\n"
        "    base_url: http://127.0.0.1:9\n"
        "    token: t0ken\n"
        "sinks:\n"
        "  - name: ops\n"
        "    type: webhook\n"
        f"    url: {ops_url}\n"
        "  - name: audit\n"
        "    type: webhook\n"
        "    url: http://127.0.0.1:9/audit\n",
        encoding="utf-8",
    )
    return path


async def dlq(config: Path, *args: str) -> tuple[int, str, str]:
    """Run ``conference-monitor dlq ARGS --config CONFIG``; exit code, stdout, stderr."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(config.parent)}
    proc = await asyncio.create_subprocess_exec(
        *MONITOR,
        "dlq",
        *args,
        "--config",
        str(config),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    assert "Traceback" not in err.decode(), err.decode()
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    opened = RedisStore.from_url(Secret(redis_url), consumer="replica-a")
    await opened.open_outbox(["ops", "audit"], ["main"])
    yield opened
    await opened.close()


async def bury(store: RedisStore) -> list[str]:
    """Three dead letters for ops (one rejected, two exhausted), one for audit, which is
    disabled; the event ids, in commit order."""
    outcome = started("main", 1, 2, 3)
    await store.commit("main", 0, outcome)
    ops = await store.read("ops", 10, 0.1)
    await store.dead_letter("ops", ops[:1], "rejected: HTTP 422", 1)
    await asyncio.sleep(0.01)
    await store.dead_letter("ops", ops[1:], "retries exhausted after 10 attempts: HTTP 503", 10)
    audit = await store.read("audit", 10, 0.1)
    await store.dead_letter("audit", audit[:1], f"sink disabled: {GONE}", 0)
    await store.ack("audit", audit[1:])
    await store.disable_sink("audit", SinkDisabled(GONE, 1_790_000_000.0, "f" * 16))
    return [e.id for e in outcome.events]


async def test_list_for_people(store: RedisStore, redis_url: str, tmp_path: Path) -> None:
    ids = await bury(store)
    code, out, err = await dlq(config_file(tmp_path, redis_url), "list")
    assert code == 0, err
    assert f"sink audit is DISABLED: {GONE}" in out
    header = next(line for line in out.splitlines() if line.startswith("SINK"))
    for column in ("DEAD_AT", "TYPE", "CONFERENCE", "ATTEMPTS", "EVENT_ID", "REASON"):
        assert column in header
    rows = [line for line in out.splitlines() if line.startswith(("ops ", "audit "))]
    assert len(rows) == 4
    (rejected,) = [row for row in rows if ids[0] in row and row.startswith("ops ")]
    assert "rejected: HTTP 422" in rejected
    assert "started" in rejected
    assert "1 Conference 1" in rejected  # the conference a person recognises
    exhausted = [row for row in rows if "retries exhausted after 10 attempts" in row]
    assert sorted(ids[1:]) == sorted(i for i in ids if any(i in row for row in exhausted))
    assert all(" 10 " in row for row in exhausted)

    code, out, _ = await dlq(config_file(tmp_path, redis_url), "list", "--sink", "ops")
    assert code == 0
    assert "audit" not in out
    assert sum(line.startswith("ops ") for line in out.splitlines()) == 3


async def test_list_as_json(store: RedisStore, redis_url: str, tmp_path: Path) -> None:
    ids = await bury(store)
    code, out, err = await dlq(config_file(tmp_path, redis_url), "list", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert sorted(row["sink"] for row in rows) == ["audit", "ops", "ops", "ops"]
    by_id = {(row["sink"], row["event_id"]): row for row in rows}
    first = by_id[("ops", ids[0])]
    assert first["reason"] == "rejected: HTTP 422"
    assert first["attempts"] == 1
    assert first["type"] == "conference.started"
    assert first["source"] == "main"
    assert first["conference_id"] == 1
    assert first["title"] == "Conference 1"
    assert first["event"]["type"] == "conference.started"  # the whole event, for scripts
    assert first["dead_at"].endswith("Z")
    assert by_id[("ops", ids[2])]["attempts"] == 10
    assert by_id[("audit", ids[0])]["reason"] == f"sink disabled: {GONE}"


async def test_list_with_nothing_dead(store: RedisStore, redis_url: str, tmp_path: Path) -> None:
    code, out, _ = await dlq(config_file(tmp_path, redis_url), "list")
    assert code == 0
    assert "no dead letters" in out
    code, out, _ = await dlq(config_file(tmp_path, redis_url), "list", "--json")
    assert (code, json.loads(out)) == (0, [])


async def test_a_rejected_event_is_listed_replayed_by_id_and_delivered(
    store: RedisStore, redis_url: str, tmp_path: Path
) -> None:
    outcome = started("main", 1, 2)
    rejected, other = outcome.events
    async with Receiver() as hook, aiohttp.ClientSession() as http:
        config = config_file(tmp_path, redis_url, hook.url)
        hook.script[rejected.id] = [422]
        hook.script[other.id] = [422]
        async with running_sink(fast_config(hook.url), store, http) as run:
            await store.commit("main", 0, outcome)
            await backlog_is(store, 0)
            code, out, _ = await dlq(config, "list", "--sink", "ops")
            assert code == 0
            assert out.count("rejected: HTTP 422") == 2

            hook.script.clear()  # the receiver is fixed; replay one of them
            code, out, err = await dlq(config, "replay", "--sink", "ops", "--id", rejected.id)
            assert code == 0, err
            assert "sink ops: 1 dead letter(s) sent back for delivery" in out
            (request,) = await hook.wait_for(1)
            await backlog_is(store, 0)
            await run.finish()

    assert request.event_id == rejected.id
    assert request.body == rejected.body()
    assert [d.entry.event_id for d in await store.dead_letters("ops")] == [other.id]


async def test_replay_enables_a_disabled_sink(
    store: RedisStore, redis_url: str, tmp_path: Path
) -> None:
    ids = await bury(store)
    config = config_file(tmp_path, redis_url)
    code, out, err = await dlq(config, "replay", "--sink", "audit", "--json")
    assert code == 0, err
    assert json.loads(out) == {"replayed": {"audit": 1}}
    assert await store.sink_disabled("audit") is None
    assert await store.count_dead("audit") == 0
    assert await store.count_dead("ops") == 3  # only the sink asked for
    (again,) = await store.read("audit", 10, 0.1)
    assert again.event_id == ids[0]


async def test_replay_of_an_unknown_id_fails(
    store: RedisStore, redis_url: str, tmp_path: Path
) -> None:
    await bury(store)
    code, out, _ = await dlq(config_file(tmp_path, redis_url), "replay", "--id", "evt_nobody")
    assert code == 1
    assert "no dead letter has event id evt_nobody" in out
    assert await store.count_dead("ops") == 3
    assert await store.count_dead("audit") == 1


async def test_a_replay_that_found_nothing_enables_nothing(
    store: RedisStore, redis_url: str, tmp_path: Path
) -> None:
    await bury(store)
    code, _, _ = await dlq(config_file(tmp_path, redis_url), "replay", "--id", "evt_nobody")
    assert code == 1
    assert await store.sink_disabled("audit") is not None


async def test_purge_needs_yes(store: RedisStore, redis_url: str, tmp_path: Path) -> None:
    await bury(store)
    config = config_file(tmp_path, redis_url)
    code, out, _ = await dlq(config, "purge", "--sink", "ops")
    assert code == 1
    assert "--yes" in out
    assert await store.count_dead("ops") == 3

    code, out, err = await dlq(config, "purge", "--sink", "ops", "--yes")
    assert code == 0, err
    assert "sink ops: 3 dead letter(s) purged" in out
    assert await store.count_dead("ops") == 0
    assert await store.count_dead("audit") == 1


@pytest.mark.parametrize(
    "args", [("list",), ("replay",), ("purge", "--yes")], ids=["list", "replay", "purge"]
)
async def test_an_embedded_store_is_a_config_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, out, err = await dlq(config_file(tmp_path, "memory://"), *args)
    assert code == CONFIG
    assert "state_url" in err
    assert out == ""


@pytest.mark.parametrize(
    "args", [("list",), ("replay",), ("purge", "--yes")], ids=["list", "replay", "purge"]
)
async def test_an_unknown_sink_is_a_config_error(
    redis_url: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, _, err = await dlq(config_file(tmp_path, redis_url), *args, "--sink", "nope")
    assert code == CONFIG
    assert "--sink" in err
    assert "'nope'" in err
