"""Who this process is among replicas (invariant 11: one name, one process).

A replica's name is its lease holder and its Redis consumer, so two live processes under one
name would each take the other for its own dead predecessor. Names are kept apart in two steps:

- **On this machine**, a name is a lock file held for the life of the process (``flock``: the
  kernel lets it go when the process dies, however it dies), one per store, so processes of
  other stores do not count. A process started without ``MONITOR_REPLICA_ID`` takes the first
  free name of ``host``, ``host-2``, ``host-3``, …: two processes on one machine get distinct
  names, and a restarted one gets its old name back and takes over its predecessor's leases and
  pending deliveries at once. A name given twice on one machine is refused at start.
- **In the store** (``settle``): a member of the name from another process is watched until it
  beats again (a live process: a given name is refused, a default one moves on to the next
  free name) or lapses (a dead process). A member with this lock directory's ``machine`` tag is
  known dead without waiting, as the lock says so.

Where no lock can be made (a read-only file system, a lock directory that is not safely ours),
a given name is used as it is and a default name gets a random suffix; every rival of the
name is watched in the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import stat
import sys
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit

import structlog

from monitor.core.errors import ReplicaNameTakenError

log = structlog.get_logger("monitor.replicas.identity")

VARIABLE: Final = "MONITOR_REPLICA_ID"
NAME_HINT: Final = f"give each process its own {VARIABLE}, or leave it unset"
MAX_SLOTS: Final = 64  # processes without a given name on one machine, per store


def base_name(environ: Mapping[str, str] = os.environ) -> str:
    """The name a process asks for: ``MONITOR_REPLICA_ID``, else the host (the pod) name."""
    return environ.get(VARIABLE) or environ.get("HOSTNAME") or socket.gethostname()


@dataclass
class Identity:
    """This process's replica name, and its ``nonce`` in the store's membership: the
    ``machine`` tag (when the name's lock is held here) followed by random digits, so a member
    of the same name and tag is known to be a dead process."""

    name: str
    nonce: str
    given: bool
    machine: str | None = None
    _lock: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None


def taken(name: str) -> ReplicaNameTakenError:
    return ReplicaNameTakenError(
        f"replica name {name!r} is in use by another running process: {NAME_HINT}"
    )


def store_scope(state_url: str) -> str:
    """Which store a lock is for: its address without credentials, as a short digest."""
    parts = urlsplit(state_url)
    where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return hashlib.sha256(where.encode()).hexdigest()[:8]


def claim(
    environ: Mapping[str, str] = os.environ,
    *,
    scope: str = "",
    directory: Path | None = None,
    skip: Collection[str] = (),
) -> Identity:
    """Take a name for this process (not one of ``skip``, names found alive in the store);
    raises ``ReplicaNameTakenError`` when a given name is held by a live process here."""
    given = environ.get(VARIABLE)
    base = base_name(environ)
    candidates = [base] if given else [base, *(f"{base}-{n}" for n in range(2, MAX_SLOTS + 1))]
    candidates = [name for name in candidates if name not in skip]
    try:
        directory = directory or lock_directory(environ)
        tag = machine_tag(directory)
        for name in candidates:
            lock = _try_lock(directory / f"{scope}{quote(name, safe='')}.lock")
            if lock is not None:
                return Identity(name, tag + secrets.token_hex(6), bool(given), tag, lock)
    except OSError as exc:  # no lock here: the store's watch alone keeps names apart
        log.warning("replica_name_unlocked", error=str(exc), hint=f"set {VARIABLE}")
        name = given or f"{base}-{secrets.token_hex(3)}"
        return Identity(name, secrets.token_hex(10), bool(given))
    if given:
        raise ReplicaNameTakenError(
            f"replica name {base!r} is in use by another running process on this machine: "
            + NAME_HINT
        )
    raise ReplicaNameTakenError(f"no free replica name among {base}, {base}-2 … {base}-{MAX_SLOTS}")


def lock_directory(environ: Mapping[str, str] = os.environ) -> Path:
    """A directory of this user's alone (a shared ``/tmp`` must not let anyone else plant
    files or links in it): created 0700, refused unless it is a real directory we own."""
    runtime = environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    directory = Path(runtime) / f"conference-monitor-{uid}"
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        raise OSError(f"{directory} is not a private directory of this user")
    return directory


def machine_tag(directory: Path) -> str:
    """Processes with this tag share a kernel boot and this very lock directory (a random id
    kept in it: the same path in two containers or private /tmps is two directories), so the
    lock files tell whether any of them is alive."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    marker = directory / "directory-id"
    with contextlib.suppress(FileExistsError):
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(16))
    fd = os.open(marker, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, encoding="ascii") as held:
        ident = held.read().strip()
    text = f"{socket.gethostname()}\0{boot}\0{ident}"
    return hashlib.sha256(text.encode()).hexdigest()[:8]


_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


def _try_lock(path: Path) -> int | None:
    """The locked descriptor, or None when another live process holds the lock."""
    if sys.platform == "win32":  # no flock: the store's watch alone keeps names apart
        raise OSError("no file locks on this platform")
    import fcntl  # noqa: PLC0415 - POSIX only

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
