"""What to poll and when: today the poller of a source (a drift-free ticker, the diff, one
atomic commit); discovery and scheduling come next.
"""

from monitor.watch.poller import Poller

__all__ = ["Poller"]
