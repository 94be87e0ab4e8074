"""Several processes on one Redis: who each one is (one name, one process) and which sources
and sinks it works on (leases with fencing tokens).
"""

from monitor.replicas.leases import LeaseKeeper

__all__ = ["LeaseKeeper"]
