"""Redis Cluster: a client that keeps the store's expectations of a single server.

Every key a multi-key step touches shares a hash tag (``keys``), so each step stays in one
slot; what differs is handled here (errors, scripts in pipelines) and in ``stream_reads``
(one blocking read per stream).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, Final

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ClusterError, RedisClusterException
from redis.typing import EncodableT, ScriptTextT

from monitor.config.redis_url import Topology, tls_options

# A cluster client keeps a pool per node; each sink keeps one blocking read per stream open
# (``outbox``), so a node may need (sources + 1) x sinks connections at once.
CLUSTER_CONNECTIONS: Final = 1000


class Cluster(RedisCluster):
    """What the store needs of a cluster client that redis-py's lacks.

    Its own failures (no node reachable, a slot no node serves) are ``RedisError``s, as the
    store expects of every client: it reports them and tries again, as after a lost connection,
    instead of letting them through as something unforeseen. And its pipelines run the Lua
    scripts registered on it, as a single server's do (redis-py refuses EVALSHA in a cluster
    pipeline): each is loaded on every primary first, then runs on the node of its first key.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.scripts: dict[str, AsyncScript] = {}  # by SHA1

    # redis-py types the base's as the blocking client's Script; what it returns is AsyncScript
    def register_script(self, script: ScriptTextT) -> AsyncScript:  # type: ignore[override]
        registered = super().register_script(script)
        self.scripts[registered.sha] = registered
        return registered

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        with _as_redis_error():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        super().pipeline(transaction, shard_hint)  # its checks
        # redis-py types an attribute of its base as abstract; its own pipeline() does the same
        return _ClusterPipeline(self, transaction)  # type: ignore[abstract]


class _ClusterPipeline(ClusterPipeline):
    def __init__(self, client: Cluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        self._owner = client
        self._shas: set[str] = set()  # scripts to load before running

    def evalsha(
        self, sha: str, numkeys: int, *keys_and_args: EncodableT
    ) -> asyncio.Future[ClusterPipeline]:
        """Queue a script; awaiting the answer is fine (``AsyncScript`` does), and unlike
        awaiting the pipeline itself it leaves the queue as it is."""
        self._shas.add(sha)
        self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)
        queued: asyncio.Future[ClusterPipeline] = asyncio.get_running_loop().create_future()
        queued.set_result(self)
        return queued

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        try:
            with _as_redis_error():
                for sha in self._shas:
                    if script := self._owner.scripts.get(sha):
                        await self._owner.script_load(script.script)  # on every primary
                return await super().execute(raise_on_error, allow_redirections)
        finally:
            self._shas.clear()


@contextlib.contextmanager
def _as_redis_error() -> Iterator[None]:
    try:
        yield
    except RedisClusterException as exc:  # its messages name nodes by host:port only
        raise ClusterError(str(exc)) from exc


def cluster_client(topology: Topology, timeouts: dict[str, Any]) -> RedisCluster:
    """A client of the cluster ``topology`` names, found through its nodes, with ``timeouts``."""
    return Cluster(
        startup_nodes=[ClusterNode(host, port) for host, port in topology.nodes],
        username=topology.username,
        password=topology.password,
        max_connections=CLUSTER_CONNECTIONS,
        **timeouts,
        **tls_options(topology),
    )
