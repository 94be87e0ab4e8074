"""What a source's accounts hold: their courses (with the facts messages show) and the tree.

Read by discovery (``discovery.py``), kept in the store so a restart or another replica starts
from it, and asked by the watch (which courses to read) and by sink filters (is this course in
that department: its account or any account below).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core.contexts import ContextInfo


@dataclass(frozen=True, slots=True)
class Directory:
    """Courses by id, and each account's parent (None for a root or an account seen alone)."""

    courses: Mapping[int, ContextInfo] = field(default_factory=dict)
    parents: Mapping[int, int | None] = field(default_factory=dict)
    groups: Mapping[int, ContextInfo] = field(default_factory=dict)  # when groups are discovered
    read_at: float = 0.0  # unix time the discovery completed; 0: never

    def accounts_of(self, account_id: int | None) -> list[int]:
        """``account_id`` and every account above it, nearest first."""
        chain: list[int] = []
        while account_id is not None and account_id not in chain:
            chain.append(account_id)
            account_id = self.parents.get(account_id)
        return chain

    def within(self, account_id: int | None, accounts: Iterable[int]) -> bool:
        """Is ``account_id`` one of ``accounts`` or below one of them?"""
        wanted = set(accounts)
        return any(a in wanted for a in self.accounts_of(account_id))

    def encode(self) -> bytes:
        return json.dumps(
            {
                "read_at": self.read_at,
                "parents": [[a, p] for a, p in self.parents.items()],
                "courses": [c.as_record() for c in self.courses.values()],
                "groups": [g.as_record() for g in self.groups.values()],
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Directory | None:
        """A saved directory, or None when it cannot be read (then discovery runs at once)."""
        try:
            raw: dict[str, Any] = json.loads(data)
            parents = {int(a): None if p is None else int(p) for a, p in raw["parents"]}
            courses = _infos(raw["courses"])
            groups = _infos(raw.get("groups", []))
            return cls(courses, parents, groups, float(raw["read_at"]))
        except (ValueError, KeyError, TypeError):
            return None


def _infos(records: list[dict[str, Any]]) -> dict[int, ContextInfo]:
    infos = (ContextInfo.from_record(r) for r in records)
    return {info.id: info for info in infos if info is not None}
