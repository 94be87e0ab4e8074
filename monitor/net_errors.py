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

from monitor.tls import tls_failure

#: ``errno`` values a connection attempt fails with, as a person would say them.
_CONNECT_ERRNO = {
    errno.ECONNREFUSED: "connection refused to {where}",
    errno.ETIMEDOUT: "connection timed out to {where}",
    errno.EHOSTUNREACH: "host unreachable: {where}",
    errno.ENETUNREACH: "network unreachable for {where}",
    errno.ECONNRESET: "connection reset by {where}",
    errno.ECONNABORTED: "connection aborted by {where}",
    errno.EADDRNOTAVAIL: "cannot assign an address to reach {where}",
}


def describe(exc: aiohttp.ClientError) -> str:
    """A short, secret-free description of a failed request (no answer was read)."""
    tls = tls_failure(exc)
    if tls is not None:
        return tls
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_failure(exc)
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


def _connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    host, port = exc.host, exc.port
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(exc.os_error, socket.gaierror):
        return f"cannot resolve host {host}"
    error = exc.os_error
    template = _CONNECT_ERRNO.get(error.errno or 0)
    if template is not None:
        return template.format(where=where)
    if isinstance(error, TimeoutError):
        return f"connection timed out to {where}"
    return f"cannot connect to {where} ({_why(error)})"


def _why(error: OSError) -> str:
    """The system's words for ``error.errno``; never ``strerror``, which aiohttp may set to a
    sentence with the URL in it."""
    return os.strerror(error.errno).lower() if error.errno else type(error).__name__
