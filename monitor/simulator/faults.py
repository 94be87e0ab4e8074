"""Fault injection: rules that make chosen Canvas requests fail the ways real ones do.

A rule matches a path prefix (on segment boundaries) and optionally the N-th page of a
pagination sequence (1 = first page), fires ``times`` times (``None`` = until cleared), and
names one kind of failure. This module only decides *which* fault a request gets; the
middleware acts it out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class FaultKind(StrEnum):
    STATUS = "status"  # any status; Canvas's JSON error body for it
    HTML = "html"  # 502/503/504 with a load balancer's HTML page
    TIMEOUT = "timeout"  # hold the request far longer than any client waits
    SLOW = "slow"  # sleep, then answer normally
    BAD_JSON = "bad_json"  # 200 with malformed JSON
    WRONG_SHAPE = "wrong_shape"  # 200 with valid JSON of the wrong shape
    RESET = "reset"  # drop the connection without answering
    TRUNCATED = "truncated"  # 200 whose body stops short of its Content-Length
    BAD_RECORD = "bad_record"  # 200 where some records lack an id or have a non-int one


class Shape(StrEnum):
    """What ``wrong_shape`` sends instead of ``{"conferences": [...]}``."""

    ARRAY = "array"  # the bare list
    MISSING = "missing"  # an object without ``conferences``
    NOT_LIST = "not_list"  # ``conferences`` is an object keyed by id


DEFAULT_STATUS: Final = {FaultKind.STATUS: 500, FaultKind.HTML: 502}
DEFAULT_DELAY: Final = {FaultKind.TIMEOUT: 60.0, FaultKind.SLOW: 1.0}
_OPTIONS: Final = {"shape", "body", "content_type"}


@dataclass(frozen=True, slots=True)
class FaultRule:
    id: int
    kind: FaultKind
    path: str
    page: int | None = None
    times: int | None = 1
    status: int | None = None
    delay: float = 0.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, path: str, page: int | None) -> bool:
        prefix = self.path.rstrip("/")
        on_path = path == prefix or path.startswith(prefix + "/") or not prefix
        return on_path and (self.page is None or self.page == page)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "path": self.path,
            "page": self.page,
            "times": self.times,
            "status": self.status,
            "delay": self.delay,
            **self.options,
        }


class FaultInjector:
    """The active rules; the oldest matching rule with firings left wins."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._rules: dict[int, FaultRule] = {}
        self._left: dict[int, int | None] = {}

    def add(
        self,
        kind: FaultKind | str,
        path: str = "/api/v1",
        *,
        page: int | None = None,
        times: int | None = 1,
        status: int | None = None,
        delay: float | None = None,
        **opts: Any,
    ) -> int:
        """Add a rule and return its id; ``ValueError`` names a bad argument."""
        kind = FaultKind(kind)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path: must start with '/', not {path!r}")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise ValueError("page: must be a positive integer or null")
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ValueError("times: must be a positive integer or null")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError("status: must be an HTTP status code")
        if delay is not None and (not isinstance(delay, int | float) or delay < 0):
            raise ValueError("delay: must be a non-negative number of seconds")
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown fault options: {sorted(unknown)}")
        if kind is FaultKind.WRONG_SHAPE:
            opts["shape"] = str(Shape(opts.get("shape", Shape.ARRAY)))
        rule = FaultRule(
            id=next(self._ids),
            kind=kind,
            path=path,
            page=page,
            times=times,
            status=status if status is not None else DEFAULT_STATUS.get(kind),
            delay=float(delay if delay is not None else DEFAULT_DELAY.get(kind, 0.0)),
            options=dict(opts),
        )
        self._rules[rule.id] = rule
        self._left[rule.id] = times
        return rule.id

    def remove(self, rule_id: int) -> None:
        self._rules.pop(rule_id, None)
        self._left.pop(rule_id, None)

    def clear(self) -> None:
        self._rules.clear()
        self._left.clear()

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    def remaining(self, rule_id: int) -> int | None:
        """How many firings the rule has left: ``None`` = unlimited, 0 once spent or removed."""
        return self._left.get(rule_id, 0)

    def take(self, path: str, page: int | None) -> FaultRule | None:
        """The fault for this request, if any, using up one of its firings."""
        for rule in self._rules.values():
            if rule.matches(path, page):
                left = self._left[rule.id]
                if left is not None:
                    if left <= 1:
                        self.remove(rule.id)
                    else:
                        self._left[rule.id] = left - 1
                return rule
        return None
