"""The clients on the emulator: pooling, closing, pickling, injected httpx clients, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import pickle
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import cloudpickle
import httpx
import pytest

from cf_mistral import (
    APIConnectionError,
    APITimeoutError,
    AsyncWorkersAIClient,
    ChatRequest,
    ClientConfig,
    InvalidRequestError,
    StreamEnd,
    StreamInterruptedError,
    TextDelta,
    UserMessage,
    WorkersAIClient,
)
from cf_mistral.emulator import Emulator, Fault, FaultKind

from .helpers import Driver, DriverFactory, serving

HELLO = ChatRequest(messages=[UserMessage("hello")])


async def test_sequential_calls_and_streams_share_one_connection(
    emulator: Emulator, driver: Driver
) -> None:
    for _ in range(3):
        await driver.chat(HELLO)
        await driver.stream(HELLO)
    assert len(emulator.requests) == 6
    assert emulator.connections_opened == 1


async def test_error_replies_keep_the_connection(emulator: Emulator, driver: Driver) -> None:
    emulator.fault(Fault(kind=FaultKind.bad_request))
    with pytest.raises(Exception, match="Bad input"):
        await driver.chat(HELLO)
    await driver.chat(HELLO)
    assert emulator.connections_opened == 1


def test_sync_context_manager_closes_its_pool(connection: dict[str, Any]) -> None:
    with WorkersAIClient(**connection) as client:
        client.chat(HELLO)
        pool = client._http
    assert pool.is_closed
    # A closed client opens a new pool on next use rather than failing.
    assert client.chat(HELLO).text == "You said: hello"
    client.close()


async def test_async_context_manager_closes_its_pool(connection: dict[str, Any]) -> None:
    async with AsyncWorkersAIClient(**connection) as client:
        await client.chat(HELLO)
        pool = client._http
    assert pool.is_closed


def test_an_async_client_serves_one_event_loop_after_another(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    # A pool's connections belong to the loop that opened them; reused from a second
    # asyncio.run they raised "RuntimeError: Event loop is closed".
    client = AsyncWorkersAIClient(**connection)

    async def stream_text() -> str:
        return "".join(
            [event.text async for event in client.stream(HELLO) if isinstance(event, TextDelta)]
        )

    assert asyncio.run(client.chat(HELLO)).text == "You said: hello"
    assert asyncio.run(client.chat(HELLO)).text == "You said: hello"
    assert asyncio.run(stream_text()) == "You said: hello"
    assert emulator.connections_opened == 3  # one pool per loop, each reused within its loop
    assert len(client._pools) == 1  # closed loops' pools are not piled up
    asyncio.run(client.aclose())  # the last loop's pool is gone; closing from a new loop is fine
    assert client._http_client is None
    assert not client._pools


def test_an_async_client_shared_by_two_running_loops_keeps_a_pool_for_each(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    client = AsyncWorkersAIClient(**connection)
    replies: list[str] = []
    both_started = threading.Barrier(2)

    async def calls() -> None:
        both_started.wait(5)
        for _ in range(20):
            replies.append((await client.chat(HELLO)).text)
            await asyncio.sleep(0)

    threads = [threading.Thread(target=asyncio.run, args=(calls(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert replies == ["You said: hello"] * 40
    # One connection per loop; a single pool slot would have swapped pools back and forth.
    assert emulator.connections_opened == 2


class _ForwardingProxy(http.server.BaseHTTPRequestHandler):
    """A plain HTTP proxy: records the absolute URL it is asked for, forwards to ``upstream``."""

    upstream = ""
    seen: list[str] = []

    def do_POST(self) -> None:
        self.seen.append(self.path)
        target = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        forwarded = urllib.request.Request(
            self.upstream + target.path, data=body, headers=dict(self.headers), method="POST"
        )
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(forwarded) as reply:
            payload = reply.read()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.headers["Content-Type"])
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def forwarding_to(emulator: Emulator, handler: type[_ForwardingProxy]) -> Iterator[str]:
    """A loopback server for ``handler``, forwarding to the emulator: its root URL."""
    origin = urllib.parse.urlsplit(emulator.base_url)
    handler.upstream = f"{origin.scheme}://{origin.netloc}"
    with serving(handler) as url:
        yield url


@pytest.fixture
def forwarding_proxy(emulator: Emulator) -> Iterator[str]:
    _ForwardingProxy.seen = []
    with forwarding_to(emulator, _ForwardingProxy) as url:
        yield url


async def test_the_clients_we_build_honour_proxy_environment_variables(
    drive: DriverFactory, forwarding_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx ignores HTTP(S)_PROXY when handed a transport: our pool must not cost users that.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", forwarding_proxy)
    driver = drive(base_url="http://workers-ai.invalid/client/v4")
    result = await driver.chat(HELLO)
    assert result.text == "You said: hello"
    assert _ForwardingProxy.seen == [
        "http://workers-ai.invalid/client/v4/accounts/test-account/ai/run/"
        "@cf/mistralai/mistral-small-3.1-24b-instruct"
    ]


class _CookieSettingServer(_ForwardingProxy):
    """Forwards to the emulator, setting a cookie on every reply as Cloudflare's edge may."""

    cookies: list[str | None] = []

    def do_POST(self) -> None:
        self.cookies.append(self.headers.get("Cookie"))
        super().do_POST()

    def end_headers(self) -> None:
        self.send_header("Set-Cookie", "__cf_bm=edge; Path=/")
        super().end_headers()


@pytest.fixture
def cookie_setting_server(emulator: Emulator) -> Iterator[str]:
    _CookieSettingServer.cookies = []
    with forwarding_to(emulator, _CookieSettingServer) as url:
        yield url + "/client/v4"


@pytest.fixture
def cookie_extractions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The responses httpx runs through its cookie jar, by URL."""
    seen: list[str] = []
    extract = httpx.Cookies.extract_cookies

    def recorded(self: httpx.Cookies, response: httpx.Response) -> None:
        seen.append(str(response.request.url))
        extract(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", recorded)
    return seen


async def test_api_calls_never_send_back_a_cookie_a_reply_set(
    drive: DriverFactory, cookie_setting_server: str
) -> None:
    # Workers AI and AI Gateway authenticate by token: requests are built without the jar.
    driver = drive(base_url=cookie_setting_server)
    await driver.chat(HELLO)
    await driver.chat(HELLO)
    await driver.stream(HELLO)
    assert _CookieSettingServer.cookies == [None, None, None]


def test_an_injected_http_client_keeps_its_own_cookie_jar(
    cookie_setting_server: str, connection: dict[str, Any], cookie_extractions: list[str]
) -> None:
    with httpx.Client() as http:
        settings = {**connection, "base_url": cookie_setting_server}
        with WorkersAIClient(**settings, http_client=http) as client:
            client.chat(HELLO)
            client.chat(HELLO)
        assert http.cookies.get("__cf_bm") == "edge"
    assert len(cookie_extractions) == 2
    assert _CookieSettingServer.cookies == [None, None]


def test_injected_sync_http_client_is_used_and_left_open(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    seen: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: seen.append(str(r.url))]}) as http:
        with WorkersAIClient(**connection, http_client=http) as client:
            client.chat(HELLO)
            list(client.stream(HELLO))
        assert not http.is_closed
        assert len(seen) == 2
        assert seen[0] == emulator.run_url()


async def test_injected_async_http_client_is_used_and_left_open(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
        async with AsyncWorkersAIClient(**connection, http_client=http) as client:
            await client.chat(HELLO)
            [event async for event in client.stream(HELLO)]
        assert not http.is_closed
        assert seen == [emulator.run_url()] * 2


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
async def test_clients_survive_pickling_and_work_after(
    emulator: Emulator, drive: DriverFactory, dumps: Any
) -> None:
    driver = drive(max_retries=4)
    fresh = pickle.loads(dumps(driver.client))
    await driver.chat(HELLO)  # now it holds a live pool
    used = pickle.loads(dumps(driver.client))
    for client in (fresh, used):
        assert type(client) is type(driver.client)
        assert client.config == driver.client.config
        assert client.config.max_retries == 4
        copy = Driver(driver.sync, client)
        assert (await copy.chat(HELLO)).text == "You said: hello"
        await copy.close()


def test_client_options_and_config_are_equivalent(connection: dict[str, Any]) -> None:
    config = ClientConfig.build(**connection, max_retries=1)
    assert WorkersAIClient(config).config == WorkersAIClient(**connection, max_retries=1).config


async def test_stalled_stream_raises_within_the_idle_timeout(
    emulator: Emulator, drive: DriverFactory
) -> None:
    emulator.fault(Fault(kind=FaultKind.stall, after_events=2, stall_seconds=5))
    driver = drive(timeout={"stream_idle": 0.5, "read": 10})
    started = time.monotonic()
    events, error = await driver.stream_until_error(HELLO)
    elapsed = time.monotonic() - started
    assert isinstance(error, StreamInterruptedError)
    assert "stalled" in str(error)
    assert error.text == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert error.text
    assert elapsed < 0.5 + 1.5


async def test_stream_stalled_before_its_first_event_is_a_timeout(
    emulator: Emulator, drive: DriverFactory
) -> None:
    emulator.fault(Fault(kind=FaultKind.stall, after_events=0, stall_seconds=5))
    driver = drive(timeout={"stream_idle": 0.5, "read": 0.5})
    started = time.monotonic()
    events, error = await driver.stream_until_error(HELLO)
    assert events == []
    assert isinstance(error, APITimeoutError)
    assert time.monotonic() - started < 2


async def test_slow_reply_raises_a_read_timeout(emulator: Emulator, drive: DriverFactory) -> None:
    emulator.configure(latency=3)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        await drive(timeout={"read": 0.3}).chat(HELLO)
    assert time.monotonic() - started < 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_closed_port_gives_a_connection_error_quickly(sync: bool) -> None:
    options: dict[str, Any] = {
        "account_id": "a",
        "api_token": "t",
        "base_url": f"http://127.0.0.1:{closed_port()}/client/v4",
        "timeout": {"connect": 1},
        "max_retries": 0,
    }
    driver = Driver(sync, WorkersAIClient(**options) if sync else AsyncWorkersAIClient(**options))
    started = time.monotonic()
    with pytest.raises(APIConnectionError, match="Could not reach Workers AI"):
        await driver.chat(HELLO)
    with pytest.raises(APIConnectionError):
        await driver.stream(HELLO)
    assert time.monotonic() - started < 2
    await driver.close()


def test_closing_a_sync_stream_early_leaves_the_client_usable(
    emulator: Emulator, core_client: WorkersAIClient
) -> None:
    stream = core_client.stream(ChatRequest(messages=[UserMessage("one two three four")]))
    assert isinstance(next(stream), TextDelta)
    stream.close()
    assert core_client.chat(HELLO).text == "You said: hello"


async def test_closing_an_async_stream_early_leaves_the_client_usable(
    emulator: Emulator, async_core_client: AsyncWorkersAIClient
) -> None:
    stream = async_core_client.stream(ChatRequest(messages=[UserMessage("one two three")]))
    assert isinstance(await stream.__anext__(), TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    assert (await async_core_client.chat(HELLO)).text == "You said: hello"


async def test_results_carry_model_request_id_usage_and_raw(
    emulator: Emulator, driver: Driver
) -> None:
    result = await driver.chat(HELLO)
    assert result.model == "@cf/mistralai/mistral-small-3.1-24b-instruct"
    assert result.request_id
    assert result.usage is not None
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.usage.cost_usd > 0
    assert result.raw is not None
    assert result.raw["success"] is True
    events = await driver.stream(HELLO)
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.usage == result.usage


def test_importing_the_package_does_not_import_httpx() -> None:
    # httpx (and the rich console its CLI module loads) is the largest import cost; the
    # clients load it on first use.
    import subprocess
    import sys

    code = "import sys, cf_mistral; print('httpx' in sys.modules, cf_mistral.WorkersAIClient)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.startswith("False <class 'cf_mistral.WorkersAIClient'>")


@pytest.mark.parametrize("client_class", [WorkersAIClient, AsyncWorkersAIClient])
def test_an_injected_http_client_of_the_wrong_kind_is_refused(client_class: type) -> None:
    wrong = httpx.AsyncClient() if client_class is WorkersAIClient else httpx.Client()
    with pytest.raises(InvalidRequestError, match="needs an httpx"):
        client_class(account_id="a", api_token="t", http_client=wrong)


def test_a_config_and_keyword_options_together_are_refused() -> None:
    config = ClientConfig.build(account_id="a", api_token="t")
    with pytest.raises(InvalidRequestError, match=r"not both .*'max_retries'"):
        WorkersAIClient(config, max_retries=5)
