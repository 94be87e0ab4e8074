"""A store that passes everything to a real one: the base of the test doubles that inject
faults into one method (or count its calls) and leave the rest real.

Only what a double changes is written out; every other attribute is the inner store's, through
``__getattr__`` (asked only for names the class does not define). mypy checks a double against
the role protocols (``monitor.store.roles``) through that same ``__getattr__``, so a double is a
``Store`` wherever one is wanted. An override reaches the real method as ``self.inner.name``:
``super()`` does not go through ``__getattr__``.
"""

from __future__ import annotations

from typing import Any

from monitor.store.roles import Store


class PassThroughStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (or unpickling): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
