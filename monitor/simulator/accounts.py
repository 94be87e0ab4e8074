"""The account tree: root account 1 and its sub-accounts, each knowing its parent.

Canvas answers "may this admin see that course" by walking up from the course's account, and
"which courses are under this account" by walking down; both walks live here, so the catalogue
and the rights only ever ask for ``ancestors`` and ``subtree``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from monitor.simulator.errors import SimInputError, SimNotFoundError
from monitor.simulator.records import SimAccount

ROOT_ACCOUNT_ID: Final = 1


class AccountTree:
    """Accounts by id, with the children of each in creation order."""

    def __init__(self, root_name: str = "Sim University") -> None:
        self._accounts: dict[int, SimAccount] = {}
        self._children: dict[int, list[int]] = {}
        self._accounts[ROOT_ACCOUNT_ID] = SimAccount(ROOT_ACCOUNT_ID, root_name)
        self._children[ROOT_ACCOUNT_ID] = []

    def add(self, account_id: int, name: str, parent_account_id: int) -> SimAccount:
        """A new sub-account under ``parent_account_id``."""
        if account_id in self._accounts:
            raise SimInputError(f"account {account_id} already exists")
        if account_id < 1:
            raise SimInputError("account_id: must be a positive integer")
        self.get(parent_account_id)
        account = SimAccount(account_id, name, parent_account_id, ROOT_ACCOUNT_ID)
        self._accounts[account_id] = account
        self._children[account_id] = []
        self._children[parent_account_id].append(account_id)
        return account

    def next_id(self) -> int:
        return max(self._accounts) + 1

    def get(self, account_id: int) -> SimAccount:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise SimNotFoundError(f"no account {account_id}") from None

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def __len__(self) -> int:
        return len(self._accounts)

    def all(self) -> list[SimAccount]:
        """Every account, root first, then depth first in creation order."""
        return [self._accounts[i] for i in self.subtree(ROOT_ACCOUNT_ID)]

    def ancestors(self, account_id: int) -> Iterator[int]:
        """The account itself, its parent, ..., the root."""
        current: int | None = self.get(account_id).id
        while current is not None:
            yield current
            current = self._accounts[current].parent_account_id

    def subtree(self, account_id: int) -> list[int]:
        """The account and every account below it, depth first (itself first)."""
        self.get(account_id)
        found, stack = [], [account_id]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(reversed(self._children[current]))
        return found

    def descendants(self, account_id: int) -> list[SimAccount]:
        """The sub-accounts under ``account_id`` (not itself), as ``recursive=true`` lists them."""
        return [self._accounts[i] for i in self.subtree(account_id)[1:]]

    def children(self, account_id: int) -> list[SimAccount]:
        self.get(account_id)
        return [self._accounts[i] for i in self._children[account_id]]
