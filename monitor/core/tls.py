"""TLS for every outgoing request (Canvas and receivers): always verified, never switched off.

Without ``ca_file`` a request uses aiohttp's default: the system's trust store, with host name
checking. With ``ca_file`` (a private CA, a TLS-inspecting proxy), one ``ssl.SSLContext`` that
trusts exactly that bundle is built when the client or sink is made and passed with each
request. A failed verification is a configuration problem, not a passing one: it is described
in a few words that name what failed, never a URL path or a credential.
"""

from __future__ import annotations

import ssl
from typing import Literal

import aiohttp

from monitor.core.errors import ConfigError

#: What aiohttp's ``ssl=`` takes: ``True`` is its default (the system's CAs, verified).
TlsSetting = ssl.SSLContext | Literal[True]


def client_tls(ca_file: str | None, field: str) -> TlsSetting:
    """The ``ssl=`` argument for requests that trust ``ca_file`` (or the system's CAs)."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "unreadable"
        raise ConfigError(field, f"cannot load {ca_file} as CA certificates: {why}") from None


def tls_failure(exc: aiohttp.ClientError) -> str | None:
    """A short, secret-free description of a TLS failure; None for any other error."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        detail = getattr(error, "verify_message", None) or getattr(error, "reason", None)
        return f"TLS certificate not accepted ({detail or 'verification failed'})"
    if isinstance(exc, aiohttp.ClientSSLError):
        reason = getattr(getattr(exc, "os_error", None), "reason", None)
        return f"TLS handshake failed ({reason or type(exc).__name__})"
    return None
