"""Remote image downloads that cannot exhaust memory or reach the private network.

With ``inline_remote_images`` the client fetches image URLs found in messages, and those
messages are often written by an app's users: without limits, a URL could make the app's server
read an endless body into memory, or fetch an internal service or the cloud metadata endpoint
(``http://169.254.169.254/``) and hand the answer to the model (server-side request forgery).

Theory of operation:

- **Where the check happens.** Downloads go through their own httpcore connection pool whose
  network backend (httpcore's public ``NetworkBackend`` interface) resolves the host itself,
  checks every address it resolved to, and connects only to an allowed one, by address. The
  check is on the address actually connected to, on every connection, so every redirect hop
  and a DNS answer that changes between two lookups (DNS rebinding) are covered; TLS still
  verifies and sends SNI for the host name, as httpcore passes the name to ``start_tls``.
- **Refused destinations** (:func:`refused_address_class`): loopback, private (RFC 1918, IPv6
  unique-local), link-local (including 169.254.169.254), carrier-grade NAT (100.64.0.0/10),
  unspecified, multicast, reserved and other special-purpose addresses, and the IPv4-mapped
  IPv6 form of each. Hosts named in ``private_image_hosts`` (exact names) skip the check.
- **No proxies.** The pool connects directly and ignores ``HTTP(S)_PROXY``: through a proxy
  the address the proxy connects to cannot be checked, so honouring it would reopen the hole.
- **Bounds.** An over-limit ``Content-Length`` is refused before the body is read; otherwise
  the body is streamed and reading stops as soon as it crosses :data:`MAX_IMAGE_BYTES`. Only
  ``http``/``https`` URLs and ``image/*`` replies, at most :data:`MAX_IMAGE_REDIRECTS`
  redirects (followed here, hop by hop), and :data:`IMAGE_DOWNLOAD_SECONDS` in total besides
  the connect and read timeouts.

The decisions live in :class:`_Download` (no I/O); :class:`ImageDownloader` and
:class:`AsyncImageDownloader` are the two I/O shells that drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import httpcore
import httpx

from cf_mistral._config import USER_AGENT, ClientConfig
from cf_mistral._errors import APIConnectionError, APITimeoutError, InvalidRequestError
from cf_mistral._images import MAX_IMAGE_BYTES, to_data_url

__all__ = [
    "IMAGE_DOWNLOAD_SECONDS",
    "MAX_IMAGE_REDIRECTS",
    "AsyncImageDownloader",
    "ImageDownloader",
    "Resolver",
    "refused_address_class",
    "system_resolver",
]

#: Redirects followed per image; a CDN or URL shortener needs one or two.
MAX_IMAGE_REDIRECTS = 3
#: Total seconds for one image download, every hop included, besides each read's timeout.
IMAGE_DOWNLOAD_SECONDS = 30.0

#: ``(host, port) -> addresses``: how a download resolves a host name (tests inject one).
Resolver = Callable[[str, int], Sequence[str]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918 = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Checked in order; the first match names the class in the error. The last line catches what
# the others miss (documentation, benchmarking and other special-purpose ranges).
_REFUSED_CLASSES: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("loopback", lambda address: address.is_loopback),
    ("unspecified", lambda address: address.is_unspecified),
    ("link-local (cloud metadata services live here)", lambda address: address.is_link_local),
    ("carrier-grade NAT", lambda address: address in _CARRIER_GRADE_NAT),
    (
        "private",
        lambda address: (
            any(address in net for net in _RFC1918)
            if address.version == 4
            else address in _UNIQUE_LOCAL
        ),
    ),
    ("multicast", lambda address: address.is_multicast),
    ("reserved", lambda address: address.is_reserved),
    ("special-purpose (not globally reachable)", lambda address: not address.is_global),
)


def refused_address_class(address: str) -> str | None:
    """The class of destination ``address`` belongs to if downloads refuse it, else ``None``.

    >>> refused_address_class("169.254.169.254")
    'link-local (cloud metadata services live here)'
    >>> refused_address_class("::ffff:10.0.0.1")
    'IPv4-mapped private'
    >>> refused_address_class("93.184.216.34") is None
    True
    """
    ip: _IPAddress = ipaddress.ip_address(address)
    prefix = ""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            prefix = "IPv4-mapped " if ip.ipv4_mapped else "6to4-embedded "
            ip = embedded
    for name, matches in _REFUSED_CLASSES:
        if matches(ip):
            return prefix + name
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (``getaddrinfo``), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _normalized_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class _AddressGuard:
    """Which of a host's addresses a download may connect to (both backends share it)."""

    def __init__(self, allowed_hosts: Iterable[str], resolver: Resolver) -> None:
        self.allowed_hosts = frozenset(_normalized_host(host) for host in allowed_hosts)
        self.resolver = resolver

    def permitted(self, host: str, addresses: Sequence[str]) -> list[str]:
        """The addresses of ``addresses`` allowed for ``host``; raise when there is none."""
        if _normalized_host(host) in self.allowed_hosts:
            return list(addresses)
        permitted = [address for address in addresses if refused_address_class(address) is None]
        if permitted:
            return permitted
        if not addresses:
            raise APIConnectionError(f"Could not download image: {host!r} has no address.")
        refused = ", ".join(
            f"{address} ({refused_address_class(address)})" for address in addresses
        )
        raise InvalidRequestError(
            f"Refused to download an image from host {host!r}: it resolves to {refused}, "
            "which image downloads do not reach, so that a URL in a message cannot make this "
            "server fetch internal services or cloud metadata. If you trust this host, allow "
            f"it by name: private_image_hosts=[{host!r}]."
        )


class _ConnectBudget:
    """One connect's timeout, shared by every address tried: not the full timeout for each.

    A host with several addresses that do not answer would otherwise take the timeout once per
    address, past the download's total limit.
    """

    __slots__ = ("_deadline",)

    def __init__(self, timeout: float | None) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def left(self) -> float | None:
        """Seconds left for the next attempt; ConnectTimeout once none are."""
        if self._deadline is None:
            return None
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ConnectTimeout("no time left to connect to any of the host's addresses")
        return remaining


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to the addresses the guard permits."""

    def __init__(self, guard: _AddressGuard, backend: httpcore.NetworkBackend) -> None:
        self._guard = guard
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        budget = _ConnectBudget(timeout)
        # The system resolver's own timeouts bound this lookup (it cannot be interrupted here).
        addresses = self._guard.permitted(host, self._guard.resolver(host, port))
        for address in addresses[:-1]:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return self._backend.connect_tcp(
                    address, port, budget.left(), local_address, socket_options
                )
        return self._backend.connect_tcp(
            addresses[-1], port, budget.left(), local_address, socket_options
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - the pool is never given a unix socket
        raise InvalidRequestError("Image downloads do not use unix sockets.")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's async backend, connecting only to the addresses the guard permits."""

    def __init__(self, guard: _AddressGuard, backend: httpcore.AsyncNetworkBackend) -> None:
        self._guard = guard
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        budget = _ConnectBudget(timeout)
        try:
            resolved = await asyncio.wait_for(
                asyncio.to_thread(self._guard.resolver, host, port), budget.left()
            )
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(
                f"resolving {host} took longer than the timeout"
            ) from None
        addresses = self._guard.permitted(host, resolved)
        for address in addresses[:-1]:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return await self._backend.connect_tcp(
                    address, port, budget.left(), local_address, socket_options
                )
        return await self._backend.connect_tcp(
            addresses[-1], port, budget.left(), local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - the pool is never given a unix socket
        raise InvalidRequestError("Image downloads do not use unix sockets.")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _Download:
    """One image download's decisions, without I/O: hops, deadline, headers, bytes so far."""

    def __init__(self, url: str, *, config: ClientConfig, total_seconds: float) -> None:
        self.original = url
        self.url = self._checked_url(httpx.URL(url))
        self.redirects = 0
        self.deadline = time.monotonic() + total_seconds
        self.total_seconds = total_seconds
        self.timeouts = config.timeouts
        self.cookies = httpx.Cookies()  # a CDN may set a cookie and redirect to where it is read
        self.body = bytearray()
        self.mime_type = ""

    def _checked_url(self, url: httpx.URL) -> httpx.URL:
        if url.scheme not in ("http", "https"):
            raise InvalidRequestError(
                f"Image {self.original[:80]!r} leads to a {url.scheme or 'relative'!r} URL; "
                "image downloads use only http and https."
            )
        return url

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise APITimeoutError(
                f"Downloading image {self.original[:80]!r} took longer than "
                f"{self.total_seconds:g} s, the limit for one image download."
            )
        return remaining

    def request(self) -> tuple[httpcore.URL, list[tuple[bytes, bytes]], dict[str, Any]]:
        """The next hop's URL, headers and httpcore extensions (its timeouts)."""
        remaining = self._remaining()
        url = self.url
        http_request = httpx.Request("GET", url)
        self.cookies.set_cookie_header(http_request)
        headers = [
            (b"Host", url.netloc),
            (b"User-Agent", USER_AGENT.encode()),
            (b"Accept", b"image/*"),
            # Bodies arrive as sent: a compressed body's size says nothing of what it expands to.
            (b"Accept-Encoding", b"identity"),
        ]
        if "Cookie" in http_request.headers:
            headers.append((b"Cookie", http_request.headers["Cookie"].encode("latin-1")))
        timeouts = self.timeouts
        extensions = {
            "timeout": {
                "connect": min(timeouts.connect, remaining),
                "read": min(timeouts.read, remaining),
                "write": min(timeouts.write, remaining),
                "pool": min(timeouts.pool, remaining),
            }
        }
        target = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        return target, headers, extensions

    def opened(self, status: int, raw_headers: list[tuple[bytes, bytes]]) -> bool:
        """After a hop's headers: True to read this body, False to follow a redirect."""
        headers = httpx.Headers(raw_headers)
        self.cookies.extract_cookies(
            httpx.Response(status, headers=headers, request=httpx.Request("GET", self.url))
        )
        if status in _REDIRECTS and "location" in headers:
            if self.redirects >= MAX_IMAGE_REDIRECTS:
                raise InvalidRequestError(
                    f"Downloading image {self.original[:80]!r} was redirected more than "
                    f"{MAX_IMAGE_REDIRECTS} times; image downloads follow at most "
                    f"{MAX_IMAGE_REDIRECTS} redirects."
                )
            self.redirects += 1
            self.url = self._checked_url(self.url.join(headers["location"]))
            return False
        if status != 200:
            raise InvalidRequestError(
                f"Downloading image {self.original} to inline it failed with HTTP {status}."
            )
        self.mime_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if not self.mime_type.startswith("image/"):
            # to_data_url names the accepted types.
            to_data_url(b"", self.mime_type)
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise InvalidRequestError(
                f"Image {self.original[:80]!r} came compressed ({encoding}) although the "
                "download asked for identity; serve it uncompressed."
            )
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > MAX_IMAGE_BYTES:
            raise self._too_large(f"declares {int(length)} bytes (Content-Length)")
        return True

    def feed(self, chunk: bytes) -> None:
        """Keep a chunk of the body; stop at the size limit or the deadline."""
        self.body += chunk
        if len(self.body) > MAX_IMAGE_BYTES:
            raise self._too_large(f"is over {MAX_IMAGE_BYTES} bytes (reading stopped there)")
        self._remaining()

    def _too_large(self, what: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"Image {self.original[:80]!r} {what}; the limit is {MAX_IMAGE_BYTES} bytes. "
            "Resize or compress it, or pass it inline."
        )

    def data_url(self) -> str:
        return to_data_url(bytes(self.body), self.mime_type)


@contextlib.contextmanager
def _network_errors(url: str) -> Iterator[None]:
    """httpcore's errors, translated once, naming the image."""
    try:
        yield
    except httpcore.TimeoutException as error:
        raise APITimeoutError(
            f"Downloading image {url[:80]!r} timed out: {type(error).__name__}"
        ) from error
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        raise APIConnectionError(
            f"Could not download image {url[:80]!r}: {type(error).__name__}: {error}"
        ) from error
    except (OSError, ssl.SSLError) as error:  # a resolver failure (socket.gaierror)
        raise APIConnectionError(f"Could not download image {url[:80]!r}: {error}") from error


def _pool_options() -> dict[str, Any]:
    # One pool per batch of downloads: images are rare next to API calls, and a pool that
    # lives no longer than its downloads never holds a connection from another event loop.
    return {"ssl_context": httpx.create_ssl_context(), "max_connections": 4, "retries": 0}


class _Downloader:
    """What both downloaders hold: the settings, the address guard, the backend to wrap.

    ``resolver`` and ``network_backend`` (the backend connecting by address) are there for
    tests; the defaults are the system resolver and httpcore's own backend.
    """

    #: httpcore's backend for this shell, used when none is given.
    _default_backend: type[httpcore.NetworkBackend | httpcore.AsyncNetworkBackend]

    def __init__(
        self,
        config: ClientConfig,
        *,
        resolver: Resolver = system_resolver,
        network_backend: httpcore.NetworkBackend | httpcore.AsyncNetworkBackend | None = None,
        total_seconds: float = IMAGE_DOWNLOAD_SECONDS,
    ) -> None:
        self._config = config
        self._guard = _AddressGuard(config.private_image_hosts, resolver)
        self._backend: Any = network_backend or self._default_backend()
        self._total_seconds = total_seconds

    def _start(self, url: str) -> _Download:
        return _Download(url, config=self._config, total_seconds=self._total_seconds)


class ImageDownloader(_Downloader):
    """Download images as data URLs, within the bounds and destinations described above."""

    _default_backend = httpcore.SyncBackend

    def download_all(self, urls: Sequence[str]) -> dict[str, str]:
        """Each URL's data URL; the first failure raises."""
        if not urls:
            return {}
        backend = _GuardedBackend(self._guard, self._backend)
        with httpcore.ConnectionPool(network_backend=backend, **_pool_options()) as pool:
            return {url: self._download(pool, url) for url in urls}

    def _download(self, pool: httpcore.ConnectionPool, url: str) -> str:
        download = self._start(url)
        with _network_errors(url):
            while True:
                target, headers, extensions = download.request()
                with pool.stream("GET", target, headers=headers, extensions=extensions) as reply:
                    if not download.opened(reply.status, reply.headers):
                        continue
                    for chunk in reply.iter_stream():
                        download.feed(chunk)
                    return download.data_url()


class AsyncImageDownloader(_Downloader):
    """The async twin of :class:`ImageDownloader` (an ``httpcore.AnyIOBackend`` by default)."""

    _default_backend = httpcore.AnyIOBackend

    async def download_all(self, urls: Sequence[str]) -> dict[str, str]:
        """Each URL's data URL; the first failure raises."""
        if not urls:
            return {}
        backend = _AsyncGuardedBackend(self._guard, self._backend)
        async with httpcore.AsyncConnectionPool(network_backend=backend, **_pool_options()) as pool:
            return {url: await self._download(pool, url) for url in urls}

    async def _download(self, pool: httpcore.AsyncConnectionPool, url: str) -> str:
        download = self._start(url)
        with _network_errors(url):
            while True:
                target, headers, extensions = download.request()
                async with pool.stream(
                    "GET", target, headers=headers, extensions=extensions
                ) as reply:
                    if not download.opened(reply.status, reply.headers):
                        continue
                    chunks: AsyncIterator[bytes] = reply.aiter_stream()
                    async for chunk in chunks:
                        download.feed(chunk)
                    return download.data_url()
