"""HTTPS for the emulator: a throwaway CA and a certificate for the loopback names.

The certificate is generated at start-up by ``trustme`` (an optional extra: the core package
depends on httpx, pydantic and h11 only). Clients trust the emulator through the CA, never by
turning verification off, so an HTTPS run exercises the same TLS code as production.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import weakref
from pathlib import Path
from typing import Any

__all__ = ["EmulatorTLS"]

_INSTALL_HINT = (
    'HTTPS for the emulator needs the "tls" extra, which generates its certificate: '
    'pip install "cf-mistral[tls]" (it installs trustme).'
)


def _trustme() -> Any:
    try:
        import trustme
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return trustme


def _names(host: str) -> list[str]:
    """The names the certificate covers: the loopback ones and the host it binds."""
    names = ["127.0.0.1", "localhost", "::1"]
    if host and host not in names and host not in ("0.0.0.0", "::"):  # noqa: S104
        names.append(host)
    return names


class EmulatorTLS:
    """A CA made for one emulator, and the server certificate it signed.

    ``ca_cert_path`` is the CA in PEM, for ``SSL_CERT_FILE``, ``curl --cacert`` or
    ``ssl.create_default_context(cafile=...)``; :meth:`client_context` is that context.
    """

    def __init__(self, host: str = "127.0.0.1", ca_cert_path: str | os.PathLike[str] | None = None):
        trustme = _trustme()
        self._ca = trustme.CA(organization_name="cf-mistral emulator")
        self._leaf = self._ca.issue_cert(*_names(host))
        self.ca_pem: bytes = self._ca.cert_pem.bytes()
        if ca_cert_path is None:
            handle, name = tempfile.mkstemp(prefix="cf-mistral-emulator-ca-", suffix=".pem")
            os.close(handle)
            ca_cert_path = name
            # A file we made goes when this object does (or at exit).
            weakref.finalize(self, _remove, name)
        self.ca_cert_path = Path(ca_cert_path)
        self.ca_cert_path.write_bytes(self.ca_pem)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A default client context that trusts this emulator's CA (and only it)."""
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
