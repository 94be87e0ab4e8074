"""Who this process is among replicas (invariant 11: one name, one process).

A replica's name is its lease holder and its Redis consumer, so two live processes under one
name would each take the other for its own dead predecessor. Names are made safe in two steps:

- **On this machine**, a name is a lock file held for the life of the process (``flock``: the
  kernel lets it go when the process dies, however it dies). A process started without
  ``MONITOR_REPLICA_ID`` takes the first free name of ``host``, ``host-2``, ``host-3``, … so two
  processes on one machine get distinct names, while a restarted one gets its old name back and
  takes over its predecessor's leases and pending deliveries at once. A name given twice on one
  machine is refused at start.
- **Across machines** (the store, ``LeaseKeeper.claim``): a name already alive in the store under
  another process is refused if that process keeps beating; one that lapses was a dead process.
  A process of this machine (its ``machine`` tag, below) is known dead without waiting, as the
  lock says so.

Where no lock can be made (a read-only file system), the name is used as given and every rival
is watched in the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final
from urllib.parse import quote

from monitor.errors import ReplicaNameTakenError

VARIABLE: Final = "MONITOR_REPLICA_ID"
MAX_SLOTS: Final = 64  # processes without a given name on one machine
TAG_LENGTH: Final = 8  # hex digits of the machine tag at the head of a nonce


def base_name(environ: Mapping[str, str] = os.environ) -> str:
    """The name a process asks for: ``MONITOR_REPLICA_ID``, else the host (the pod) name."""
    return environ.get(VARIABLE) or environ.get("HOSTNAME") or socket.gethostname()


@dataclass
class Identity:
    """This process's replica name, and its ``nonce`` in the store's membership: a ``machine``
    tag followed by random digits. ``machine`` is set only while the name's lock is held here,
    so a member of the same name and tag is known to be a dead process."""

    name: str
    nonce: str
    machine: str | None
    _lock: IO[bytes] | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None


def lock_directory(environ: Mapping[str, str] = os.environ) -> Path:
    runtime = environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(runtime) / f"conference-monitor-{uid}"


def machine_tag(directory: Path) -> str:
    """Processes with this tag share a kernel boot, a host name and a lock directory, so the
    lock files tell whether any of them is alive."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    text = f"{socket.gethostname()}\0{boot}\0{directory.resolve()}"
    return hashlib.sha256(text.encode()).hexdigest()[:TAG_LENGTH]


def claim(environ: Mapping[str, str] = os.environ, directory: Path | None = None) -> Identity:
    """Take a name for this process; raises ``ReplicaNameTakenError`` when a given name is in use
    by a live process of this machine."""
    given = environ.get(VARIABLE)
    base = base_name(environ)
    directory = directory or lock_directory(environ)
    tag = machine_tag(directory)
    nonce = tag + secrets.token_hex(6)
    names = [base] if given else [base, *(f"{base}-{n}" for n in range(2, MAX_SLOTS + 1))]
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in names:
            lock = _try_lock(directory / f"{quote(name, safe='')}.lock")
            if lock is not None:
                return Identity(name, nonce, tag, lock)
    except OSError:  # no lock here: the store's check alone keeps names apart
        return Identity(base, nonce, None)
    if given:
        raise ReplicaNameTakenError(
            f"replica name {base!r} is in use by another running process on this machine; "
            f"give each process its own {VARIABLE} (or leave it unset for a distinct default)"
        )
    raise ReplicaNameTakenError(f"{MAX_SLOTS} monitor processes already run on this machine")


def _try_lock(path: Path) -> IO[bytes] | None:
    """The open, locked file, or None when another live process holds it."""
    if sys.platform == "win32":  # no flock: the store's check alone keeps names apart
        raise OSError("no file locks on this platform")
    import fcntl  # noqa: PLC0415 - POSIX only

    handle = path.open("a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    except OSError:
        handle.close()
        raise
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle
