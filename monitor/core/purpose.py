"""Why a Canvas request is made, so the budget can be seen spent by purpose.

The watch spends one token's budget on several things at once (invariant 9); an operator who
sees the token near its limit needs to know on what. Callers name the purpose around a read
(``with reading_for(Purpose.SWEEP): ...``) and the client counts each request under it, so no
signature between them has to carry it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from enum import StrEnum


class Purpose(StrEnum):
    LIVE_LIST = "live_list"  # the token's own ?state=live list
    PINNED = "pinned"  # configured courses and groups
    LIVE = "live"  # a course with a live conference (its end must be seen)
    WAITING = "waiting"  # a course where a conference can go live
    SWEEP = "sweep"  # a course with nothing that can start, or never read
    HINTED = "hinted"  # moved up by a hint
    CONFIRM = "confirm"  # what became of a conference that left the live set
    DISCOVERY = "discovery"  # an account's courses and sub-accounts
    NAMES = "names"  # the facts of a context not discovered (its name and code)
    CHECK = "check"  # `conference-monitor check`


_CURRENT: ContextVar[Purpose] = ContextVar("canvas_request_purpose", default=Purpose.PINNED)


def current() -> Purpose:
    return _CURRENT.get()


@contextlib.contextmanager
def reading_for(purpose: Purpose) -> Iterator[None]:
    token = _CURRENT.set(purpose)
    try:
        yield
    finally:
        _CURRENT.reset(token)
