"""The HTTP clients: :class:`WorkersAIClient` (sync) and :class:`AsyncWorkersAIClient`.

They only do I/O: send the body :mod:`cf_mistral._request` built, feed bytes to the SSE
decoder and the stream accumulator, sleep between retries. Everything they decide is in
:class:`_ClientCore`, which both share, so the two differ only where one awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from itertools import count
from typing import Any, TypeVar

import httpx

from cf_mistral._bounded import aread_bounded, read_bounded
from cf_mistral._config import (
    SESSION_AFFINITY_HEADER,
    ClientConfig,
    Timeouts,
    check_session_affinity,
)
from cf_mistral._downloads import AsyncImageDownloader, ImageDownloader
from cf_mistral._errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    ResponseParseError,
    StreamInterruptedError,
    WorkersAIError,
)
from cf_mistral._pricing import ModelPrice
from cf_mistral._request import PreparedCall, prepare_call, remote_image_urls
from cf_mistral._response import parse_reply
from cf_mistral._retry import retry_delay, should_retry
from cf_mistral._sse import SSEDecoder
from cf_mistral._status import error_from_response, request_id_of
from cf_mistral._stream import StreamAccumulator
from cf_mistral._types import (
    ChatRequest,
    ChatResult,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)

__all__ = ["AsyncWorkersAIClient", "WorkersAIClient", "check_http_clients"]

logger = logging.getLogger("cf_mistral")

_HTTPClient = TypeVar("_HTTPClient", httpx.Client, httpx.AsyncClient)


def _limits(config: ClientConfig) -> httpx.Limits:
    """``max_connections`` at most, and every one kept alive.

    A burst then finds the connections the last one opened instead of paying a new TCP and
    TLS setup for each (two round trips to the edge, and the handshake's CPU). Keeping that
    many idle is affordable with our linear pool pass (_compat); httpcore's own pass rescans
    every connection per request (benchmarks/README.md).
    """
    return httpx.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_connections,
        keepalive_expiry=30,
    )


_LoopPools = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]


def _pooled(client: _HTTPClient) -> _HTTPClient:
    """An httpx client we built, with the linear pool pass where it applies (_compat).

    The client is built as httpx builds it (environment proxies, TLS settings and all): a
    ``transport=`` argument would make httpx ignore ``HTTP(S)_PROXY`` / ``NO_PROXY``. Proxy
    mounts keep httpcore's own pools. An injected client keeps its own pool.
    """
    from cf_mistral._compat import install_linear_pool  # imports httpcore, as httpx does

    install_linear_pool(client)
    return client


def _checked(client: _HTTPClient | None, expected: type[_HTTPClient]) -> _HTTPClient | None:
    """An injected client of the wrong kind fails here, not at the first call."""
    if client is not None and not isinstance(client, expected):
        raise InvalidRequestError(
            f"The injected HTTP client is a {type(client).__name__}; this client needs an "
            f"httpx.{expected.__name__} (sync code: httpx.Client, async code: httpx.AsyncClient)."
        )
    return client


def check_http_clients(sync: object = None, asynchronous: object = None) -> None:
    """Refuse injected HTTP clients of the wrong kind when a model is built, not at its first call.

    For the adapters, whose client fields are untyped so that importing them stays free of httpx.
    """
    _checked(sync, httpx.Client)  # type: ignore[type-var]
    _checked(asynchronous, httpx.AsyncClient)  # type: ignore[type-var]


def _httpx_timeout(timeouts: Timeouts) -> httpx.Timeout:
    return httpx.Timeout(
        connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
    )


class _StreamSession:
    """One stream attempt: the decoder and the accumulator, fed bytes by a client shell."""

    __slots__ = ("accumulator", "decoder")

    def __init__(
        self, call: PreparedCall, model: str, *, snapshots: bool, price: ModelPrice | None
    ) -> None:
        self.decoder = SSEDecoder()
        self.accumulator = StreamAccumulator(call, model=model, snapshots=snapshots, price=price)

    def feed(self, chunk: bytes) -> Iterator[StreamEvent]:
        # A generator, not a list: each payload's events reach the caller before the next
        # payload is read, so a bad event later in the same chunk cannot swallow the text that
        # arrived before it (the caller has it, and StreamInterruptedError.text matches it).
        # Payloads are decoded as they are handed on, not the whole chunk first: a loopback read
        # can hold an entire reply, and the first token should not wait for its last.
        # next_event in a loop rather than the events() generator: one layer less per event.
        decoder, accumulator = self.decoder, self.accumulator
        decoder.receive(chunk)
        while (payload := decoder.next_event()) is not None:
            yield from accumulator.feed(payload)
            if accumulator.done:
                return

    def finish(self, request_id: str | None) -> list[StreamEvent]:
        if not self.accumulator.done and not self.accumulator.stopped:
            for payload in self.decoder.flush():
                self.accumulator.feed(payload)
        return self.accumulator.finish(request_id=request_id)

    @property
    def emitted(self) -> bool:
        return self.accumulator.emitted

    @property
    def finished(self) -> bool:
        # After a stop sequence the rest is still read (and its text dropped): the usage
        # event comes last, and a response read to its end returns its connection to the pool.
        return self.accumulator.done


def _events_from_result(result: ChatResult, *, snapshots: bool) -> list[StreamEvent]:
    """A complete reply as stream events (for a server that answered a stream with JSON)."""
    events: list[StreamEvent] = []
    if result.text:
        events.append(TextDelta(result.text, result.text if snapshots else None))
    for index, call in enumerate(result.tool_calls):
        events.append(ToolCallDelta(index, call.id, call.name, json.dumps(dict(call.arguments))))
    if result.usage is not None:
        events.append(UsageEvent(result.usage))
    events.append(StreamEnd(result))
    return events


# What may follow [DONE] before the body ends: normally only the chunked terminator.
_DRAIN_LIMIT = 64 * 1024


def _drain(chunks: Iterator[bytes]) -> None:
    """Read a finished stream's body to its end, so httpcore pools the connection.

    Closing a response whose body is unread closes its connection: every stream would then
    pay a new TCP connection. Runs after the last event was yielded; gives up (and lets the
    connection close) past ``_DRAIN_LIMIT`` bytes or on any transport error.
    """
    received = 0
    with contextlib.suppress(httpx.HTTPError):
        for chunk in chunks:
            received += len(chunk)
            if received > _DRAIN_LIMIT:
                return


async def _adrain(chunks: AsyncIterator[bytes]) -> None:
    """:func:`_drain` for an async body."""
    received = 0
    with contextlib.suppress(httpx.HTTPError):
        async for chunk in chunks:
            received += len(chunk)
            if received > _DRAIN_LIMIT:
                return


@contextlib.contextmanager
def _transport_errors(session: _StreamSession | None = None) -> Iterator[None]:
    """httpx's exceptions → ours, once, at the boundary. After a stream began: interrupted."""
    try:
        yield
    except httpx.TransportError as error:
        # `from None` hides the httpx error but Python still keeps it as __context__, and tblib
        # (installed by Dask, which ships worker exceptions to the client) pickles contexts: the
        # httpx error's Request carries the Authorization header. Keep only its method and URL.
        _strip_credentials(error)
        raise _translated(error, session) from None


def _strip_credentials(error: httpx.RequestError) -> None:
    """Swap the error's request for one with the same method and URL, and no headers or body."""
    try:
        request = error.request
    except RuntimeError:  # raised before httpx gave it a request: nothing to strip
        return
    error.request = httpx.Request(request.method, request.url.copy_with(username="", password=""))


def _translated(error: httpx.TransportError, session: _StreamSession | None) -> WorkersAIError:
    if isinstance(error, httpx.TimeoutException):
        if session is not None and session.emitted:
            return StreamInterruptedError(
                f"The stream stalled: no event within the idle timeout ({type(error).__name__}).",
                text=session.accumulator.text,
            )
        return APITimeoutError(f"Workers AI did not answer in time ({type(error).__name__}).")
    if session is not None and session.emitted:
        return StreamInterruptedError(
            f"The connection broke during the stream: {error}", text=session.accumulator.text
        )
    return APIConnectionError(f"Could not reach Workers AI: {type(error).__name__}: {error}")


class _ClientCore:
    """Configuration and every decision the sync and async clients share."""

    def __init__(self, config: ClientConfig | None = None, **options: Any) -> None:
        # The public clients document the options; ClientConfig.build types and checks them.
        if config is not None and options:
            raise InvalidRequestError(
                f"Pass either config or keyword options, not both (got config and "
                f"{sorted(options)}): options would be ignored. Put them in the ClientConfig."
            )
        self.config = config or ClientConfig.build(**options)
        self._derive()

    def _derive(self) -> None:
        # The config is frozen: parse URLs and headers once (per model), not on every call;
        # building them was the largest cost of preparing a request.
        self._endpoints: dict[str | None, tuple[httpx.URL, httpx.Headers]] = {}
        self._timeout_extension = _httpx_timeout(self.config.timeouts).as_dict()

    def __repr__(self) -> str:
        config = self.config
        return f"{type(self).__name__}(model={config.model!r}, account_id={config.account_id!r})"

    def _build(
        self,
        request: ChatRequest,
        *,
        stream: bool,
        model: str | None,
        inlined: Mapping[str, str] | None = None,
    ) -> tuple[PreparedCall, httpx.Request]:
        call = prepare_call(request, stream=stream, inlined_images=inlined)
        url, headers = self._endpoint(model)
        affinity = check_session_affinity(request.session_affinity)
        if affinity is not None:
            # A per-call key wins over the client's and over default_headers.
            headers = headers.copy()
            headers[SESSION_AFFINITY_HEADER] = affinity
        content = json.dumps(call.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        http_request = httpx.Request("POST", url, headers=headers, content=content)
        logger.debug("POST %s (%d bytes, stream=%s)", url, len(content), stream)
        return call, http_request

    def _endpoint(self, model: str | None) -> tuple[httpx.URL, httpx.Headers]:
        endpoint = self._endpoints.get(model)
        if endpoint is None:
            endpoint = (httpx.URL(self.config.run_url(model)), httpx.Headers(self.config.headers()))
            self._endpoints[model] = endpoint
        return endpoint

    def _arm(self, http_request: httpx.Request) -> httpx.Request:
        """Set this client's timeouts on the request, fresh for each attempt."""
        http_request.extensions["timeout"] = self._timeout_extension
        return http_request

    def _remote_images(self, request: ChatRequest) -> list[str]:
        urls = remote_image_urls(request)
        allowed = (
            request.inline_remote_images
            if request.inline_remote_images is not None
            else self.config.inline_remote_images
        )
        if urls and not allowed:
            # prepare_call names the fix; raise it before any I/O.
            prepare_call(request, stream=False)
        return urls

    def _backoff(self, error: WorkersAIError, attempt: int) -> float:
        """The delay before the next attempt, or re-raise ``error`` when it is not retried."""
        if not should_retry(error, attempt=attempt, max_retries=self.config.max_retries):
            raise error
        delay = retry_delay(error, attempt=attempt)
        logger.info(
            "Retrying after %s (attempt %d of %d) in %.2fs",
            type(error).__name__,
            attempt + 1,
            self.config.max_retries,
            delay,
        )
        return delay

    def _result(
        self, response: httpx.Response, call: PreparedCall, model: str | None
    ) -> ChatResult:
        request_id = request_id_of(response.headers)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.headers, response.content)
        try:
            body = response.json()
        except ValueError:
            raise ResponseParseError(
                f"Workers AI answered HTTP {response.status_code} with a body that is not JSON: "
                f"{response.text[:200]!r}",
                status_code=response.status_code,
                request_id=request_id,
            ) from None
        model = model or self.config.model
        return parse_reply(
            body, call, model=model, request_id=request_id, price=self.config.price_for(model)
        )

    def _stream_session(
        self, call: PreparedCall, model: str | None, *, snapshots: bool
    ) -> _StreamSession:
        model = model or self.config.model
        price = self.config.price_for(model)
        return _StreamSession(call, model, snapshots=snapshots, price=price)

    def _stream_opened(self, response: httpx.Response, http_request: httpx.Request) -> bool:
        """After the headers: raise on errors; True when the body is SSE (else a JSON reply)."""
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.headers, response.content)
        # From here the read timeout is the idle timeout between events (httpcore reads the
        # request's timeout extension when body iteration starts).
        timeouts = dict(http_request.extensions.get("timeout", {}))
        timeouts["read"] = self.config.timeouts.stream_idle
        http_request.extensions["timeout"] = timeouts
        return "text/event-stream" in response.headers.get("content-type", "")

    def __getstate__(self) -> dict[str, Any]:
        # HTTP clients hold sockets and locks; a new process makes its own lazily.
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(config=state["config"], _http_client=None, _owns_http=True)
        self._derive()


class WorkersAIClient(_ClientCore):
    """Synchronous client for Mistral Small 3.1 on Workers AI.

    Retries what is retryable (connection errors, 408, capacity 429s, 5xx; streams only before
    their first event), with finite timeouts everywhere, over one pooled ``httpx.Client``.
    Picklable: a copy opens its own pool. Use it as a context manager, or call :meth:`close`.

    Setup:
        Set ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN`` (a token with Workers AI
        permission), or pass them.

    Key init args:
        config: a complete :class:`ClientConfig`; otherwise the keyword arguments below.
        account_id: Cloudflare account id (env ``CLOUDFLARE_ACCOUNT_ID`` / ``CF_ACCOUNT_ID``).
        api_token: API token (env ``CLOUDFLARE_API_TOKEN`` and aliases); kept as a secret.
        model: Workers AI model id (default ``@cf/mistralai/mistral-small-3.1-24b-instruct``).
        base_url: API root (env ``CLOUDFLARE_BASE_URL``, else the public API).
        gateway: an AI Gateway id or :class:`AIGateway`.
        timeout: seconds, a mapping or :class:`Timeouts` (finite by default).
        max_retries: retries of retryable errors (default 2).
        default_headers: extra headers on every request.
        inline_remote_images: download http(s) image URLs and send them inline (bounded in size
            and time; loopback, private, link-local and other internal addresses refused).
        private_image_hosts: host names whose images may be downloaded from such internal
            addresses (exact names, e.g. ``["images.internal"]``).
        max_connections: connections open at most (default 100), all kept alive between
            calls; calls beyond it wait for a free one (up to the ``pool`` timeout).
        session_affinity: a key sent as ``x-session-affinity`` on every call (a
            :class:`ChatRequest` may carry its own), so calls of one conversation reach the
            replica that holds its prompt cache.
        pricing: ``{model id: ModelPrice}`` overriding the price table behind
            :attr:`ChatResult.cost_usd`.
        http_client: your own ``httpx.Client`` (proxies, transports); you close it. Image
            downloads do not use it: they make their own checked, direct connections.

    Instantiate and call::

        from cf_mistral import ChatRequest, UserMessage, WorkersAIClient

        client = WorkersAIClient()
        result = client.chat(
            ChatRequest(messages=[UserMessage("Hello!")], params={"temperature": 0.2})
        )
        print(result.text, result.finish_reason)

    Stream::

        from cf_mistral import StreamEnd, TextDelta

        for event in client.stream(ChatRequest(messages=[UserMessage("Tell me a story")])):
            if isinstance(event, TextDelta):
                print(event.text, end="")
            elif isinstance(event, StreamEnd):
                print(event.result.usage)

    Tools (``tool_choice="required"`` or a tool name forces a call)::

        from cf_mistral import ToolDefinition

        weather = ToolDefinition(
            "get_weather",
            "Get the weather in a city.",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        )
        result = client.chat(
            ChatRequest(messages=[UserMessage("Weather in Paris?")], tools=[weather])
        )
        print(result.tool_calls)  # (ToolCall(id='...', name='get_weather', arguments={...}),)

    Structured output (constrained decoding, ``guided_json``)::

        import json

        schema = {"type": "object", "properties": {"name": {"type": "string"}}}
        result = client.chat(ChatRequest(messages=[UserMessage("A city?")], response_schema=schema))
        print(json.loads(result.text))

    Usage::

        print(result.usage, result.cost_usd)  # tokens, and estimated US dollars
        client.close()
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        http_client: httpx.Client | None = None,
        **options: Any,
    ) -> None:
        super().__init__(config, **options)
        self._http_client: httpx.Client | None = _checked(http_client, httpx.Client)
        self._owns_http = http_client is None

    @property
    def _http(self) -> httpx.Client:
        if self._http_client is None:
            self._http_client = _pooled(
                httpx.Client(
                    timeout=_httpx_timeout(self.config.timeouts), limits=_limits(self.config)
                )
            )
        return self._http_client

    def chat(self, request: ChatRequest, *, model: str | None = None) -> ChatResult:
        """Send ``request`` and return the complete reply, retrying what is retryable."""
        call, http_request = self._build(
            request, stream=False, model=model, inlined=self._download_images(request)
        )
        for attempt in count():
            try:
                with _transport_errors():
                    response = read_bounded(self._http.send(self._arm(http_request), stream=True))
                return self._result(response, call, model)
            except WorkersAIError as error:
                time.sleep(self._backoff(error, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def stream(
        self, request: ChatRequest, *, model: str | None = None, snapshots: bool = False
    ) -> Generator[StreamEvent, None, None]:
        """Yield the reply as events; closing the iterator closes the HTTP response.

        With ``snapshots=True`` every :class:`TextDelta` also carries the text so far, for
        consumers that hand out the running text (as LlamaIndex's chunks do): it is the
        stream's own string, so it costs no second copy of the reply, as long as each
        snapshot is let go once the next one arrives.
        """
        call, http_request = self._build(
            request, stream=True, model=model, inlined=self._download_images(request)
        )
        for attempt in count():
            session = self._stream_session(call, model, snapshots=snapshots)
            try:
                with _transport_errors(session):
                    response = self._http.send(self._arm(http_request), stream=True)
                    try:
                        if response.status_code >= 400:
                            response = read_bounded(response)
                        if not self._stream_opened(response, http_request):
                            response = read_bounded(response)
                            yield from _events_from_result(
                                self._result(response, call, model), snapshots=snapshots
                            )
                            return
                        chunks = response.iter_bytes()
                        for chunk in chunks:
                            yield from session.feed(chunk)
                            if session.finished:
                                break
                        yield from session.finish(request_id_of(response.headers))
                        _drain(chunks)
                        return
                    finally:
                        response.close()
            except WorkersAIError as error:
                if session.emitted:
                    raise
                time.sleep(self._backoff(error, attempt))

    def _download_images(self, request: ChatRequest) -> dict[str, str]:
        return ImageDownloader(self.config).download_all(self._remote_images(request))

    def close(self) -> None:
        """Close the connection pool (only if this client created it)."""
        if self._http_client is not None and self._owns_http:
            self._http_client.close()
            self._http_client = None

    def __enter__(self) -> WorkersAIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncWorkersAIClient(_ClientCore):
    """Asynchronous client (native ``httpx.AsyncClient``, no threads). Same API, awaited.

    Takes the same arguments as :class:`WorkersAIClient` (``http_client`` is an
    ``httpx.AsyncClient``). An ``httpx.AsyncClient`` belongs to the event loop that first used
    it: use one client per loop.

    Example::

        import asyncio

        from cf_mistral import AsyncWorkersAIClient, ChatRequest, TextDelta, UserMessage


        async def main() -> None:
            async with AsyncWorkersAIClient() as client:
                result = await client.chat(ChatRequest(messages=[UserMessage("Hello!")]))
                print(result.text)
                async for event in client.stream(ChatRequest(messages=[UserMessage("Hi")])):
                    if isinstance(event, TextDelta):
                        print(event.text, end="")


        asyncio.run(main())
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(config, **options)
        self._http_client: httpx.AsyncClient | None = _checked(http_client, httpx.AsyncClient)
        self._owns_http = http_client is None
        # Our own pools, one per event loop: a pool's connections belong to the loop that
        # opened them, and from another (asyncio.run twice, a thread with its own loop) they
        # fail with "Event loop is closed".
        self._pools = _LoopPools()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pools = _LoopPools()

    @property
    def _http(self) -> httpx.AsyncClient:
        if not self._owns_http:
            assert self._http_client is not None
            return self._http_client
        loop = asyncio.get_running_loop()
        client = self._pools.get(loop)
        if client is None:
            # A pool's sockets keep its loop alive, so a closed loop's entry never leaves the
            # weak mapping by itself: drop those here (their sockets can only be closed from
            # their own loop; the garbage collector closes them), so that a script calling
            # asyncio.run in a loop does not pile up pools.
            for closed in [other for other in self._pools if other.is_closed()]:
                del self._pools[closed]
            client = self._pools[loop] = _pooled(
                httpx.AsyncClient(
                    timeout=_httpx_timeout(self.config.timeouts), limits=_limits(self.config)
                )
            )
        return client

    async def chat(self, request: ChatRequest, *, model: str | None = None) -> ChatResult:
        """Send ``request`` and return the complete reply, retrying what is retryable."""
        call, http_request = self._build(
            request, stream=False, model=model, inlined=await self._download_images(request)
        )
        for attempt in count():
            try:
                with _transport_errors():
                    response = await aread_bounded(
                        await self._http.send(self._arm(http_request), stream=True)
                    )
                return self._result(response, call, model)
            except WorkersAIError as error:
                await asyncio.sleep(self._backoff(error, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def stream(
        self, request: ChatRequest, *, model: str | None = None, snapshots: bool = False
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield the reply as events; closing or cancelling closes the HTTP response.

        ``snapshots``: as for :meth:`WorkersAIClient.stream`.
        """
        call, http_request = self._build(
            request, stream=True, model=model, inlined=await self._download_images(request)
        )
        for attempt in count():
            session = self._stream_session(call, model, snapshots=snapshots)
            try:
                with _transport_errors(session):
                    response = await self._http.send(self._arm(http_request), stream=True)
                    try:
                        if response.status_code >= 400:
                            response = await aread_bounded(response)
                        if not self._stream_opened(response, http_request):
                            response = await aread_bounded(response)
                            for event in _events_from_result(
                                self._result(response, call, model), snapshots=snapshots
                            ):
                                yield event
                            return
                        chunks = response.aiter_bytes()
                        async for chunk in chunks:
                            for event in session.feed(chunk):
                                yield event
                            if session.finished:
                                break
                        for event in session.finish(request_id_of(response.headers)):
                            yield event
                        await _adrain(chunks)
                        return
                    finally:
                        await response.aclose()
            except WorkersAIError as error:
                if session.emitted:
                    raise
                await asyncio.sleep(self._backoff(error, attempt))

    async def _download_images(self, request: ChatRequest) -> dict[str, str]:
        return await AsyncImageDownloader(self.config).download_all(self._remote_images(request))

    async def aclose(self) -> None:
        """Close the connection pool (only if this client created it).

        Pools opened on other event loops are dropped, not closed: their connections can only
        be closed from their own loop.
        """
        if not self._owns_http:
            return
        pools, self._pools = self._pools, _LoopPools()
        client = pools.get(asyncio.get_running_loop())
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> AsyncWorkersAIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
