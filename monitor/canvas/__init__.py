"""Talking to Canvas: the client (one sequential, throttled lane per token), its pages and
what a complete snapshot of a source is.
"""

from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Lane

__all__ = ["CanvasClient", "Lane"]
