"""Image downloads: size, time and redirect bounds, and the destinations they refuse.

Every server here is on loopback. Refused destinations are reached only through an injected
resolver that maps a test host name to the address; the backend that would connect counts its
attempts, and the tests assert it was never asked.
"""

from __future__ import annotations

import asyncio
import doctest
import gc
import shutil
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpcore
import psutil
import pytest

from cf_mistral import (
    APIConnectionError,
    APITimeoutError,
    ClientConfig,
    InvalidRequestError,
    WorkersAIError,
    check_arguments,
)
from cf_mistral._downloads import (
    MAX_IMAGE_REDIRECTS,
    AsyncImageDownloader,
    ImageDownloader,
    refused_address_class,
)
from cf_mistral._images import MAX_IMAGE_BYTES
from tests.core.helpers import LoopbackServer, head

PNG = bytes.fromhex("89504e470d0a1a0a") + b"\0" * 64
MB = 1024 * 1024


class CountingStream(httpcore.NetworkStream):
    """A connection that adds the bytes it reads to ``counter[0]``."""

    def __init__(self, stream: httpcore.NetworkStream, counter: list[int]) -> None:
        self._stream = stream
        self._counter = counter

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(max_bytes, timeout)
        self._counter[0] += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: Any = None
    ) -> httpcore.NetworkStream:
        return CountingStream(
            self._stream.start_tls(ssl_context, server_hostname, timeout), self._counter
        )


class CountingBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, recording every address it connects to and the bytes read."""

    def __init__(self, connected: list[str], bytes_read: list[int] | None = None) -> None:
        self.connected = connected
        self.bytes_read = [0] if bytes_read is None else bytes_read
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connected.append(host)
        if host not in ("127.0.0.1", "::1"):  # recorded, never connected to
            raise httpcore.ConnectError(f"the test backend connects to loopback only, not {host}")
        return CountingStream(
            self._backend.connect_tcp(host, port, *args, **kwargs), self.bytes_read
        )


class AsyncCountingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, connected: list[str]) -> None:
        self.connected = connected
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connected.append(host)
        if host not in ("127.0.0.1", "::1"):  # recorded, never connected to
            raise httpcore.ConnectError(f"the test backend connects to loopback only, not {host}")
        return await self._backend.connect_tcp(host, port, *args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def resolver(table: dict[str, str]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> list[str]:
        return [table.get(host, host)]  # an address literal resolves to itself

    return resolve


def download(
    url: str,
    *,
    sync: bool,
    hosts: dict[str, str] | None = None,
    resolve: Callable[[str, int], Sequence[str]] | None = None,
    allowed: Sequence[str] = (),
    connected: list[str] | None = None,
    bytes_read: list[int] | None = None,
    total_seconds: float = 30.0,
) -> str:
    """Download ``url`` with the sync or async downloader; ``connected`` collects addresses."""
    config = ClientConfig(private_image_hosts=tuple(allowed))
    connected = [] if connected is None else connected
    options: dict[str, Any] = {"total_seconds": total_seconds}
    if hosts is not None:
        options["resolver"] = resolver(hosts)
    if resolve is not None:
        options["resolver"] = resolve
    if sync:
        backend = CountingBackend(connected, bytes_read)
        downloader = ImageDownloader(config, network_backend=backend, **options)
        return downloader.download_all([url])[url]
    abackend = AsyncCountingBackend(connected)
    adownloader = AsyncImageDownloader(config, network_backend=abackend, **options)
    return asyncio.run(adownloader.download_all([url]))[url]


def from_trusted_host(server: LoopbackServer, path: str, *, sync: bool, **options: Any) -> str:
    """Download ``path`` from ``server`` as ``images.test``, named in private_image_hosts."""
    return download(
        f"http://images.test:{server.port}{path}",
        sync=sync,
        hosts={"images.test": "127.0.0.1"},
        allowed=["images.test"],
        **options,
    )


@pytest.fixture(params=[True, False], ids=["sync", "async"])
def sync(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def png_reply() -> Iterator[bytes]:
    yield head("200 OK", "Content-Type: image/png", f"Content-Length: {len(PNG)}") + PNG


def huge_reply(declare_length: bool, total: int = 200 * MB) -> Callable[[], Iterator[bytes]]:
    """``total`` bytes labelled image/png, made lazily as the client reads them."""

    def reply() -> Iterator[bytes]:
        headers = ["Content-Type: image/png", "Connection: close"]
        if declare_length:
            headers.append(f"Content-Length: {total}")
        yield head("200 OK", *headers)
        chunk = b"\0" * 65536
        for _ in range(total // len(chunk)):
            yield chunk

    return reply


# -- destinations ---------------------------------------------------------------------------

DESTINATIONS = {
    "loopback": ["127.0.0.1", "127.1.2.3", "::1"],
    "private": ["10.0.0.1", "172.16.5.4", "192.168.1.1", "fd00::1"],
    "link-local": ["169.254.169.254", "169.254.0.1", "fe80::1"],
    "carrier-grade NAT": ["100.64.0.1", "100.127.255.254"],
    "unspecified": ["0.0.0.0", "::"],
    "multicast": ["224.0.0.1", "ff02::1"],
    "reserved": ["240.0.0.1"],
    "IPv4-mapped": ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254"],
}


@pytest.mark.parametrize("kind", list(DESTINATIONS))
def test_each_destination_class_is_refused_before_any_connection(kind: str, sync: bool) -> None:
    for address in DESTINATIONS[kind]:
        refused = refused_address_class(address)
        assert refused is not None
        assert kind.split(maxsplit=1)[0].lower() in refused.lower()
        connected: list[str] = []
        with pytest.raises(InvalidRequestError) as caught:
            download(
                "http://target.test/cat.png",
                sync=sync,
                hosts={"target.test": address},
                connected=connected,
            )
        message = str(caught.value)
        assert "'target.test'" in message
        assert address in message
        assert "private_image_hosts=['target.test']" in message
        assert connected == []


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_not_refused(address: str) -> None:
    assert refused_address_class(address) is None


def test_a_loopback_url_is_refused_and_never_fetched(server: LoopbackServer, sync: bool) -> None:
    server.routes["/cat.png"] = png_reply
    with pytest.raises(InvalidRequestError, match=r"'127\.0\.0\.1'.*loopback.*private_image_hosts"):
        download(f"{server.url}/cat.png", sync=sync)
    assert server.requests == []


def test_a_redirect_to_a_refused_address_is_refused_at_that_hop(
    server: LoopbackServer, sync: bool
) -> None:
    def redirect() -> Iterator[bytes]:
        location = "http://metadata.test/latest/meta-data/"
        yield head("302 Found", f"Location: {location}", "Content-Length: 0")

    server.routes["/cat.png"] = redirect
    hosts = {"images.test": "127.0.0.1", "metadata.test": "169.254.169.254"}
    url = f"http://images.test:{server.port}/cat.png"
    connected: list[str] = []
    with pytest.raises(InvalidRequestError, match=r"'metadata\.test'.*169\.254\.169\.254"):
        download(url, sync=sync, hosts=hosts, allowed=["images.test"], connected=connected)
    assert server.requests == ["/cat.png"]
    assert connected == ["127.0.0.1"]


def test_private_image_hosts_allows_a_named_loopback_host(
    server: LoopbackServer, sync: bool
) -> None:
    server.routes["/cat.png"] = png_reply
    hosts = {"localhost": "127.0.0.1"}
    connected: list[str] = []
    data_url = download(
        f"http://localhost:{server.port}/cat.png",
        sync=sync,
        hosts=hosts,
        allowed=["localhost"],
        connected=connected,
    )
    assert data_url.startswith("data:image/png;base64,")
    assert connected == ["127.0.0.1"]
    # The name is exact: another name for the same address is still refused.
    with pytest.raises(InvalidRequestError, match="private_image_hosts"):
        download(f"{server.url}/cat.png", sync=sync, hosts={}, allowed=["localhost"])


def test_private_image_hosts_must_be_a_list_of_names() -> None:
    with pytest.raises(InvalidRequestError, match=r"private_image_hosts=\['localhost'\]"):
        ClientConfig.build(private_image_hosts="localhost")


# -- bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "no-length"])
def test_a_200_mb_image_is_refused_within_a_few_mb_of_the_limit(
    server: LoopbackServer, declare_length: bool, record_property: Any
) -> None:
    server.routes["/huge.png"] = huge_reply(declare_length)
    gc.collect()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    rss_peak = [rss_before]
    done = threading.Event()

    def sample_rss() -> None:
        while not done.wait(0.002):
            rss_peak[0] = max(rss_peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    bytes_read = [0]
    tracemalloc.start()
    try:
        with pytest.raises(InvalidRequestError, match=str(MAX_IMAGE_BYTES)):
            from_trusted_host(server, "/huge.png", sync=True, bytes_read=bytes_read)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        done.set()
        sampler.join()
    rss_growth = rss_peak[0] - rss_before
    time.sleep(0.2)  # let the server notice the closed socket
    print(
        f"\n200 MB {'with' if declare_length else 'without'} Content-Length: read "
        f"{bytes_read[0] / MB:.2f} MB; the server sent {server.bytes_sent / MB:.1f} MB "
        f"(the rest sat in socket buffers); peak traced {traced_peak / MB:.1f} MB; "
        f"peak RSS growth {rss_growth / MB:.1f} MB"
    )
    if declare_length:
        assert bytes_read[0] <= 64 * 1024  # one read: the headers and what came with them
        assert traced_peak < 2 * MB
    else:
        assert MAX_IMAGE_BYTES < bytes_read[0] < MAX_IMAGE_BYTES + 256 * 1024
        assert traced_peak < MAX_IMAGE_BYTES + 4 * MB
    assert server.bytes_sent < bytes_read[0] + 16 * MB
    assert rss_growth < MAX_IMAGE_BYTES + 8 * MB


def drip() -> Iterator[bytes]:
    yield head("200 OK", "Content-Type: image/png", "Content-Length: 1000")
    for _ in range(1000):
        time.sleep(0.05)
        yield b"\0"


def silent() -> Iterator[bytes]:
    time.sleep(3)
    yield head("200 OK", "Content-Type: image/png", "Content-Length: 0")


@pytest.mark.parametrize(
    ("reply", "message"),
    [(drip, r"took longer than 0\.5 s"), (silent, "timed out")],
    ids=["slow-body", "no-answer"],
)
def test_a_slow_image_is_cut_off_at_the_total_deadline(
    server: LoopbackServer, sync: bool, reply: Callable[[], Iterator[bytes]], message: str
) -> None:
    server.routes["/slow.png"] = reply
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match=message):
        from_trusted_host(server, "/slow.png", sync=sync, total_seconds=0.5)
    assert time.monotonic() - started < 2


def test_redirects_are_followed_up_to_the_named_limit(server: LoopbackServer, sync: bool) -> None:
    def hop(n: int) -> Callable[[], Iterator[bytes]]:
        return lambda: iter([head("302 Found", f"Location: /hop{n + 1}", "Content-Length: 0")])

    for n in range(MAX_IMAGE_REDIRECTS + 2):
        server.routes[f"/hop{n}"] = hop(n)
    server.routes[f"/hop{MAX_IMAGE_REDIRECTS}"] = png_reply
    assert from_trusted_host(server, "/hop0", sync=sync).startswith("data:image/png")
    server.routes[f"/hop{MAX_IMAGE_REDIRECTS}"] = hop(MAX_IMAGE_REDIRECTS)
    with pytest.raises(InvalidRequestError, match=f"more than {MAX_IMAGE_REDIRECTS} times"):
        from_trusted_host(server, "/hop0", sync=sync)


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (head("302 Found", "Location: file:///etc/passwd", "Content-Length: 0"), "'file' URL"),
        (head("200 OK", "Content-Type: text/html", "Content-Length: 0"), "image/"),
        (head("200 OK", "Content-Type: image/png", "Content-Encoding: gzip"), "compressed"),
        (head("404 Not Found", "Content-Length: 0"), "HTTP 404"),
    ],
    ids=["scheme", "content-type", "encoding", "status"],
)
def test_what_is_not_an_http_image_is_refused(
    server: LoopbackServer, sync: bool, reply: bytes, fragment: str
) -> None:
    server.routes["/x.png"] = lambda: iter([reply])
    with pytest.raises(InvalidRequestError, match=fragment):
        from_trusted_host(server, "/x.png", sync=sync)


def test_only_http_and_https_urls_are_downloaded() -> None:
    with pytest.raises(InvalidRequestError, match="only http and https"):
        ImageDownloader(ClientConfig()).download_all(["ftp://example.test/cat.png"])


def test_each_connection_checks_the_address_resolved_for_it(sync: bool) -> None:
    # DNS rebinding: a host that resolved to a public address for one connection and to an
    # internal one for the next is refused at the second, not trusted from the first answer.
    answers = iter(["93.184.216.34", "169.254.169.254"])

    def rebinding(host: str, port: int) -> list[str]:
        return [next(answers)]

    connected: list[str] = []
    url = "http://rebind.test/cat.png"
    with pytest.raises(APIConnectionError):
        download(url, sync=sync, resolve=rebinding, connected=connected)
    with pytest.raises(InvalidRequestError, match=r"169\.254\.169\.254"):
        download(url, sync=sync, resolve=rebinding, connected=connected)
    assert connected == ["93.184.216.34"]  # the test backend recorded it and did not connect


def test_a_host_with_public_and_internal_addresses_is_reached_on_a_public_one(
    sync: bool,
) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["10.0.0.1", "93.184.216.34"]

    connected: list[str] = []
    with pytest.raises(APIConnectionError):
        download("http://mixed.test/cat.png", sync=sync, resolve=resolve, connected=connected)
    assert connected == ["93.184.216.34"]


def test_downloads_ignore_proxy_variables(
    server: LoopbackServer, sync: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through a proxy the address finally connected to could not be checked: no proxy is used.
    proxy = LoopbackServer()
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        server.routes["/cat.png"] = png_reply
        data_url = from_trusted_host(server, "/cat.png", sync=sync)
        assert data_url.startswith("data:image/png")
        assert proxy.requests == []
        assert server.requests == ["/cat.png"]
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``images.test`` (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", key, "-out", cert, "-subj", "/CN=images.test"),
            *("-addext", "subjectAltName=DNS:images.test"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize(("name", "works"), [("images.test", True), ("other.test", False)])
def test_https_verifies_the_certificate_for_the_host_name_not_the_address(
    certificate: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    sync: bool,
    name: str,
    works: bool,
) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = LoopbackServer(tls=tls)
    try:
        server.routes["/cat.png"] = png_reply
        monkeypatch.setenv("SSL_CERT_FILE", cert)  # trust the test certificate
        url = f"https://{name}:{server.port}/cat.png"
        options: dict[str, Any] = {"hosts": {name: "127.0.0.1"}, "allowed": [name]}
        if works:
            assert download(url, sync=sync, **options).startswith("data:image/png")
        else:
            with pytest.raises(APIConnectionError, match=r"CERTIFICATE_VERIFY_FAILED"):
                download(url, sync=sync, **options)
    finally:
        server.close()


@pytest.mark.parametrize("function", [refused_address_class, check_arguments])
def test_the_docstring_examples_hold(function: Callable[..., Any]) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for example in doctest.DocTestFinder().find(function, globs={function.__name__: function}):
        runner.run(example)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0


class StallingBackend(httpcore.NetworkBackend):
    """Every address stalls until its connect timeout; nothing is ever connected to."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any) -> Any:
        self.timeouts.append(timeout)
        time.sleep(timeout or 0)
        raise httpcore.ConnectTimeout(f"{host} did not answer")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_a_host_whose_addresses_all_stall_costs_one_connect_timeout_not_one_each() -> None:
    config = ClientConfig.build(
        account_id="a",
        api_token="t",
        private_image_hosts=["stalling.test"],
        timeout={"connect": 0.3},
    )
    backend = StallingBackend()
    downloader = ImageDownloader(
        config,
        network_backend=backend,
        resolver=lambda host, port: ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
    )
    with pytest.raises(WorkersAIError):
        downloader.download_all(["http://stalling.test/cat.png"])
    # The three addresses share the one connect timeout (0.3 s), instead of 0.3 s each.
    assert backend.timeouts[0] is not None
    assert sum(t for t in backend.timeouts if t is not None) <= 0.3 + 0.05
