"""Errors the simulator's model raises, so the admin API can map them to HTTP answers.

The simulator stands apart from the monitor (it plays Canvas), so it has its own small root
rather than borrowing ``MonitorError``: a test double must not share code with what it tests.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of every error the simulator raises on purpose."""


class SimNotFoundError(SimulatorError, LookupError):
    """No such conference, context, user or token in the world."""


class SimInputError(SimulatorError, ValueError):
    """A request to change the world makes no sense (duplicate id, end before start, ...)."""


class SimAuthError(SimulatorError):
    """A token Canvas would refuse; ``message`` is Canvas's own wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
