"""Redis set-ups for high availability, started by the test on free loopback ports.

``sentinel_group``: a primary, a replica and sentinels watching them (``redis-server
--sentinel``), with timeouts short enough that a failover takes a few seconds. ``cluster``: three
primaries that share the 16384 slots (``CLUSTER ADDSLOTS`` and ``CLUSTER MEET``; no redis-cli
needed). Every process is ours and is killed when the ``with`` block ends.

Only a ``redis-server`` binary is needed (found as ``tests/redis_server.py`` finds it): without
one these tests skip, unless ``CI`` is set, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
import redis

from tests.support.redis_server import free_port, redis_server_binary

PASSWORD = "ha-pass-5e7d1c"  # every server and the URLs use it (never shown in errors)
SERVICE = "ccm-primary"
SLOTS = 16384


def contract_tests(*modules: ModuleType) -> dict[str, Any]:
    """The tests of ``modules``, to collect again in a module with its own ``make_store`` and
    ``redis_url`` fixtures: the same store contract, against another Redis set-up."""
    return {
        name: test
        for module in modules
        for name, test in vars(module).items()
        if name.startswith("test_") and callable(test)
    }


def need_redis_server() -> str:
    """The ``redis-server`` binary; skip without one (fail when running in CI)."""
    try:
        return redis_server_binary()
    except pytest.fail.Exception:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            raise
        pytest.skip("no redis-server binary: install Redis (Debian: redis-server) to run this")


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    port: int
    password: str | None = PASSWORD

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, **options)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save, connections reset."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within}s")
        time.sleep(0.05)


def _answers(node: Node) -> bool:
    client = node.client(socket_connect_timeout=0.2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def start_node(directory: Path, *arguments: str, config: str = "", sentinel: bool = False) -> Node:
    """A redis-server (a sentinel with ``sentinel``) on a free port; ``config`` goes into its
    configuration file, which a sentinel needs (it writes what it learns there)."""
    binary = need_redis_server()
    for _ in range(5):
        port = free_port()
        home = directory / str(port)
        home.mkdir(parents=True, exist_ok=True)
        conf = home / "redis.conf"
        base = f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {home}\n"
        conf.write_text(base + config)
        extra = ["--sentinel"] if sentinel else ["--save", "", "--appendonly", "no", *arguments]
        process = subprocess.Popen(  # noqa: S603 - our own test server
            [binary, str(conf), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        node = Node(process, port, None if sentinel else PASSWORD)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(node):
                return node
            time.sleep(0.02)
        node.kill()
    pytest.fail(f"{binary} did not start{' as a sentinel' if sentinel else ''}")


def _secured() -> tuple[str, ...]:
    """A password on every server; a primary that syncs a replica at once (not after 5 s)."""
    return ("--requirepass", PASSWORD, "--masterauth", PASSWORD, "--repl-diskless-sync-delay", "0")


# Sentinel


@dataclass
class SentinelGroup:
    primary: Node
    replica: Node
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://:{PASSWORD}@{hosts}/{SERVICE}/0"

    def nodes(self) -> list[Node]:
        return [self.primary, self.replica, *self.sentinels]

    def primary_port(self) -> int | None:
        """Where the sentinels say the primary is now (None if none of them answers)."""
        for sentinel in self.sentinels:
            client = sentinel.client(socket_timeout=1)
            try:
                address = client.sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                continue
            finally:
                client.close()
            if isinstance(address, tuple):
                return int(address[1])
        return None

    def wait_synced(self, within: float = 10.0) -> None:
        """Until the replica has every write the primary had taken when called."""

        def offset(node: Node, name: str) -> int:
            client = node.client(socket_timeout=1)
            try:
                return int(client.info("replication")[name])
            finally:
                client.close()

        target = offset(self.primary, "master_repl_offset")
        until(lambda: offset(self.replica, "master_repl_offset") >= target, within, "in sync")

    def wait_failover(self, within: float = 20.0) -> float:
        """Seconds until the sentinels name the replica the primary."""
        started = time.monotonic()
        until(lambda: self.primary_port() == self.replica.port, within, "failover")
        return time.monotonic() - started


def _sentinel_sees_everyone(sentinel: Node, others: int) -> bool:
    client = sentinel.client(socket_timeout=1)
    try:
        state = cast(dict[str, Any], client.sentinel_master(SERVICE))
    except redis.RedisError:
        return False
    finally:
        client.close()
    return int(state["num-slaves"]) >= 1 and int(state["num-other-sentinels"]) >= others


def _replicating(replica: Node) -> bool:
    client = replica.client()
    try:
        return client.info("replication").get("master_link_status") == "up"
    finally:
        client.close()


@contextlib.contextmanager
def sentinel_group(directory: Path, *, sentinels: int = 3) -> Iterator[SentinelGroup]:
    """A primary, its replica and ``sentinels`` sentinels (quorum: a majority) that fail over
    about two seconds after the primary stops answering."""
    nodes: list[Node] = []
    try:
        primary = start_node(directory / "primary", *_secured())
        nodes.append(primary)
        replica = start_node(
            directory / "replica", *_secured(), "--replicaof", "127.0.0.1", str(primary.port)
        )
        nodes.append(replica)
        until(lambda: _replicating(replica), 10, "replication link up")
        group = SentinelGroup(primary, replica)
        quorum = sentinels // 2 + 1
        config = (
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} {quorum}\n"
            f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        for i in range(sentinels):
            sentinel = start_node(directory / f"sentinel{i}", config=config, sentinel=True)
            nodes.append(sentinel)
            group.sentinels.append(sentinel)
        for sentinel in group.sentinels:  # peers are found through hello messages, every 2 s
            until(partial(_sentinel_sees_everyone, sentinel, sentinels - 1), 15, "sentinels")
        yield group
    finally:
        for node in nodes:
            node.kill()


# Cluster


def command(client: redis.Redis, *args: Any) -> Any:
    """A raw command (redis-py's ``execute_command`` is untyped)."""
    return cast(Any, client).execute_command(*args)


@dataclass
class Cluster:
    nodes: list[Node]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])  # the rest is found
        return f"redis+cluster://:{PASSWORD}@{hosts}"

    def flush(self) -> None:
        for node in self.nodes:
            client = node.client()
            try:
                client.flushall()
            finally:
                client.close()

    def owner(self, key: str) -> int:
        """The port of the node that holds ``key``."""
        client = self.nodes[0].client()
        try:
            slot = int(command(client, "CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in command(client, "CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(primary[1])
        finally:
            client.close()
        raise AssertionError(f"no node holds the slot of {key}")


def _cluster_ok(node: Node, size: int) -> bool:
    client = node.client()
    try:
        text = command(client, "CLUSTER", "INFO").decode()
    finally:
        client.close()
    info = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return info.get("cluster_state") == "ok" and int(info["cluster_known_nodes"]) == size


@contextlib.contextmanager
def cluster(directory: Path, *, size: int = 3) -> Iterator[Cluster]:
    """``size`` primaries, no replicas, the slots split evenly among them."""
    nodes: list[Node] = []
    try:
        for i in range(size):
            node = start_node(
                directory / f"node{i}",
                *_secured(),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            )
            nodes.append(node)
        for i, node in enumerate(nodes):
            client = node.client()
            try:
                first, last = SLOTS * i // size, SLOTS * (i + 1) // size - 1
                command(client, "CLUSTER", "ADDSLOTS", *range(first, last + 1))
                command(client, "CLUSTER", "SET-CONFIG-EPOCH", i + 1)
                if i:
                    command(client, "CLUSTER", "MEET", "127.0.0.1", nodes[0].port)
            finally:
                client.close()
        for node in nodes:
            until(partial(_cluster_ok, node, size), 15, "cluster state ok")
        yield Cluster(nodes)
    finally:
        for node in nodes:
            node.kill()
