"""One name, one process (invariant 11): names on one machine, and a name alive in the store.

The lock files (``identity.claim``) and the store's watch (``LeaseKeeper.claim``) are tested
here piece by piece; ``test_replica_processes.py`` runs real processes against a real Redis.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor import identity
from monitor.errors import ReplicaNameTakenError
from monitor.leases import LeaseKeeper
from monitor.metrics import Metrics
from monitor.store import Store
from tests.delivery_helpers import StoreFactory

TTL = 1.5  # a member lapses 1 s after its last heartbeat; heartbeats every 0.5 s


def keeper(store: Store, name: str, *, nonce: str, machine: str | None = None) -> LeaseKeeper:
    return LeaseKeeper(
        store, name, ["main"], TTL, Metrics(["main"], []), nonce=nonce, machine=machine
    )


# names on one machine: lock files


def test_processes_without_a_given_name_get_distinct_names(tmp_path: Path) -> None:
    env = {"HOSTNAME": "node-1"}
    first = identity.claim(env, tmp_path)
    second = identity.claim(env, tmp_path)
    third = identity.claim(env, tmp_path)
    assert [first.name, second.name, third.name] == ["node-1", "node-1-2", "node-1-3"]
    assert len({first.nonce, second.nonce, third.nonce}) == 3
    second.release()  # a process that ended: its name is the next one's again
    again = identity.claim(env, tmp_path)
    assert again.name == "node-1-2"
    for taken in (first, third, again):
        taken.release()


def test_a_given_name_in_use_on_this_machine_is_refused(tmp_path: Path) -> None:
    env = {"MONITOR_REPLICA_ID": "replica-a", "HOSTNAME": "node-1"}
    held = identity.claim(env, tmp_path)
    assert held.name == "replica-a"
    with pytest.raises(ReplicaNameTakenError, match="MONITOR_REPLICA_ID"):
        identity.claim(env, tmp_path)
    held.release()
    again = identity.claim(env, tmp_path)
    assert again.name == "replica-a"
    again.release()


def test_a_dead_process_leaves_its_name_free(tmp_path: Path) -> None:
    """The kernel lets a lock go when its process dies, even by SIGKILL."""
    code = (
        "import os, sys, pathlib\n"
        "from monitor import identity\n"
        "held = identity.claim({'MONITOR_REPLICA_ID': 'a'}, pathlib.Path(sys.argv[1]))\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(  # noqa: S603 - our own code
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(ReplicaNameTakenError):
            identity.claim({"MONITOR_REPLICA_ID": "a"}, tmp_path)
        child.kill()
        child.wait(timeout=10)
        again = identity.claim({"MONITOR_REPLICA_ID": "a"}, tmp_path)
        assert again.name == "a"
        again.release()
    finally:
        child.kill()
        child.communicate(timeout=10)


def test_without_a_lock_directory_the_name_is_used_as_is(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    taken = identity.claim({"HOSTNAME": "node-1"}, blocked / "locks")
    assert (taken.name, taken.machine) == ("node-1", None)


def test_names_are_quoted_into_file_names(tmp_path: Path) -> None:
    taken = identity.claim({"MONITOR_REPLICA_ID": "../a b@c"}, tmp_path)
    assert taken.name == "../a b@c"
    assert [p.name for p in tmp_path.iterdir()] == ["..%2Fa%20b%40c.lock"]
    taken.release()


# a name alive in the store: watched until it beats (refused) or lapses (taken over)


async def test_a_rival_that_keeps_beating_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    live = keeper(store, "a", nonce="elsewhere01")
    await live.check()
    stop = asyncio.Event()
    beating = asyncio.create_task(live.run(stop))
    started = time.monotonic()
    try:
        with pytest.raises(ReplicaNameTakenError, match="MONITOR_REPLICA_ID"):
            await asyncio.wait_for(keeper(store, "a", nonce="newcomer01").claim(asyncio.Event()), 5)
    finally:
        stop.set()
        await beating
    assert time.monotonic() - started < TTL  # seen beating within one heartbeat


async def test_a_rival_that_lapses_was_dead(make_store: StoreFactory) -> None:
    store = make_store()
    await keeper(store, "a", nonce="crashed001").check()  # then never beats again
    started = time.monotonic()
    await asyncio.wait_for(keeper(store, "a", nonce="newcomer01").claim(asyncio.Event()), 5)
    assert time.monotonic() - started >= TTL * 2 / 3 - 0.2  # waited for the lapse


async def test_a_dead_process_of_this_machine_is_taken_over_at_once(
    make_store: StoreFactory,
) -> None:
    """A member of this machine's tag: the lock this process holds says it is dead."""
    store = make_store()
    await keeper(store, "a", nonce="cafe0123" + "dead00000000").check()
    started = time.monotonic()
    newcomer = keeper(store, "a", nonce="cafe0123" + "aaaa00000000", machine="cafe0123")
    await asyncio.wait_for(newcomer.claim(asyncio.Event()), 5)
    assert time.monotonic() - started < 0.3
    await newcomer.check()
    assert newcomer.holds("main")  # the dead one's member is retired with its epoch


async def test_other_names_are_no_rivals(make_store: StoreFactory) -> None:
    store = make_store()
    await keeper(store, "b", nonce="other00001").check()
    await asyncio.wait_for(keeper(store, "a", nonce="newcomer01").claim(asyncio.Event()), 1)


async def test_a_second_process_appearing_under_the_name_is_refused(
    make_store: StoreFactory,
) -> None:
    """While the first rival is watched, another process starts under the name: alive."""
    store = make_store()
    await keeper(store, "a", nonce="crashed001").check()
    claiming = asyncio.create_task(keeper(store, "a", nonce="newcomer01").claim(asyncio.Event()))
    await asyncio.sleep(0.3)
    await keeper(store, "a", nonce="third00001").check()
    with pytest.raises(ReplicaNameTakenError):
        await asyncio.wait_for(claiming, 5)


async def test_a_superseded_replica_says_its_name_was_taken(make_store: StoreFactory) -> None:
    """Should two processes slip past the claim (a pause across it), the earlier one learns at
    its next heartbeat and stops (``serve`` raises ``taken_error``) instead of idling."""
    store = make_store()
    earlier = keeper(store, "a", nonce="earlier001")
    await earlier.check()
    await asyncio.sleep(0.01)
    await keeper(store, "a", nonce="later00001").check()
    await earlier.check()
    assert earlier.name_taken.is_set()
    assert not earlier.holds("main")
