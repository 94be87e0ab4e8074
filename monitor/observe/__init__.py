"""What the monitor tells about itself: Prometheus metrics (compact per-source families, a
streamed ``/metrics``) and structured, scrubbed logs.
"""

from monitor.observe.metrics import Metrics

__all__ = ["Metrics"]
