"""State and outbox: the store's roles (``roles``: ``StateStore``, ``Outbox``, ``Ledger``,
``LeaseStore``; ``Store`` is all of them) and the values they trade in (``values``), the memory
store and Redis (``store.redis``); ``open_store`` picks one from a ``state_url``.
"""

from monitor.store.base import open_store
from monitor.store.roles import Store

__all__ = ["Store", "open_store"]
