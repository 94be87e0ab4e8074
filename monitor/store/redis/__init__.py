"""Redis behind the ``Store`` protocol: one server, Sentinel or Cluster; keys, Lua scripts,
the outbox streams, the ledger of retries and dead letters, and the leases.
"""
