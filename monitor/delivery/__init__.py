"""From the outbox to receivers: reading, filtering, pacing, retries, dead letters, and the
sinks (webhook, Slack, Teams, console) in ``delivery.sinks``.
"""

from monitor.delivery.dispatch import SinkRunner

__all__ = ["SinkRunner"]
