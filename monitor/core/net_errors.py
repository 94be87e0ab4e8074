"""What went wrong with an outgoing request, in the words a person would use.

aiohttp's exception class names (``ClientConnectorError``) say that something failed, not what;
its messages say what but may quote the URL. These descriptions name the failure and at most the
host and port, which are no secret: never a path, a query, user info or a token.
"""

from __future__ import annotations

import errno
import os
import socket

import aiohttp

from monitor.core.tls import tls_failure

#: ``errno`` values a connection attempt fails with, as a person would say them.
_CONNECT_ERRNO = {
    errno.ECONNREFUSED: "connection refused",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EADDRNOTAVAIL: "no local address to connect from",
}


def describe(exc: aiohttp.ClientError, *, host: bool = True) -> str:
    """A short, secret-free description of a failed request (no answer was read).

    ``host=False`` leaves out the host and port too: a sink's details name no part of its URL
    (the sink's name says which receiver it was).
    """
    tls = tls_failure(exc)
    if tls is not None:
        return tls
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_failure(exc, host=host)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    if isinstance(exc, aiohttp.InvalidUrlClientError):
        return "not a valid URL"
    if isinstance(exc, aiohttp.ClientOSError):  # its own text may quote the URL: not used
        return f"the connection failed ({_why(exc)})" if exc.errno else "the connection broke"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"a malformed answer (status {exc.status})"
    return f"request failed ({type(exc).__name__})"


def _connect_failure(exc: aiohttp.ClientConnectorError, *, host: bool) -> str:
    name, error = exc.host, exc.os_error
    where = (f"[{name}]:{exc.port}" if ":" in name else f"{name}:{exc.port}") if host else ""
    if isinstance(error, socket.gaierror):
        return f"cannot resolve host {name}" if host else "cannot resolve the host"
    what = _CONNECT_ERRNO.get(error.errno or 0)
    if what is None and isinstance(error, TimeoutError):
        what = "connection timed out"
    if what is None:
        what = f"cannot connect ({_why(error)})"
    return f"{what} to {where}" if where else what


def _why(error: OSError) -> str:
    """The system's words for ``error.errno``; never ``strerror``, which aiohttp may set to a
    sentence with the URL in it."""
    return os.strerror(error.errno).lower() if error.errno else type(error).__name__
