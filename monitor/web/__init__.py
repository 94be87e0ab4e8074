"""The HTTP face: ``/metrics``, ``/healthz``, ``/readyz``, ``/api/v1/live`` and the console."""

from monitor.web.server import create_app

__all__ = ["create_app"]
