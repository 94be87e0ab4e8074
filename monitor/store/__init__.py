"""State and outbox: the ``Store`` protocol and its value types, the memory store and Redis
(``store.redis``); ``open_store`` picks one from a ``state_url``.
"""

from monitor.store.base import STORE_RETRY, Store, open_store

__all__ = ["STORE_RETRY", "Store", "open_store"]
