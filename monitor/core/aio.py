"""Small asyncio helpers the loops share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def first(*waits: Awaitable[object]) -> None:
    """Wait until the first of several awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
