"""``CloudflareMistral``: the LlamaIndex LLM. It translates and delegates; the core does the rest.

Each public endpoint carries LlamaIndex's callback decorator (events, rate limiting, token
counting) and routes to a private method that builds a neutral ``ChatRequest`` and hands it to
the core client; sync and async differ only in the client they call. No URL, header or JSON
body is built here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.prompts import PromptTemplate
from llama_index.core.types import PydanticProgramMode
from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_serializer

import cf_mistral
from cf_mistral import (
    CONTEXT_WINDOW,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    SAMPLING_PARAMETERS,
    AIGateway,
    ChatRequest,
    ClientConfig,
    ModelPrice,
    Timeouts,
    check_parameters,
)
from llama_index_cf_mistral._messages import (
    to_core_messages,
    to_core_tool,
    tool_choice_for,
    tool_selections,
)
from llama_index_cf_mistral._stream import ChatStream, chat_response, completion_response
from llama_index_cf_mistral._structured import (
    Model,
    PartialObjects,
    parse_structured,
    schema_kwargs,
)

if TYPE_CHECKING:
    import httpx
    from llama_index.core.program.utils import FlexibleModel
    from llama_index.core.tools.types import BaseTool

    from cf_mistral import AsyncWorkersAIClient, WorkersAIClient

__all__ = ["CloudflareMistral"]

dispatcher = get_dispatcher(__name__)

# Sampling parameters by their wire names (each also a field): the model's non-structural keys.
_SAMPLING_FIELDS = SAMPLING_PARAMETERS
_PARAMETER_KEYS = frozenset(SAMPLING_PARAMETERS)
# Per-call keyword arguments that are not sampling parameters.
_REQUEST_KEYS = ("tools", "tool_choice", "response_schema", "stop", "session_affinity")


class CloudflareMistral(FunctionCallingLLM):
    """Mistral Small 3.1 24B Instruct on Cloudflare Workers AI, as a LlamaIndex LLM.

    128k context, vision, tool calling and JSON-schema structured output, with real async I/O,
    token usage on every response and on the last stream chunk, and the API token kept out of
    serialization, events, logs and errors. Missing ``account_id`` / ``api_token`` are read
    from ``CLOUDFLARE_ACCOUNT_ID`` / ``CLOUDFLARE_API_TOKEN``.

    Setup: ``pip install cf-mistral``, then set ``CLOUDFLARE_ACCOUNT_ID`` and
    ``CLOUDFLARE_API_TOKEN`` (a token with Workers AI permission).

    Key init args:

    - ``model``: Workers AI model id (default ``@cf/mistralai/mistral-small-3.1-24b-instruct``).
    - ``account_id``, ``api_token``: credentials (else the environment variables above).
    - ``base_url``: API base URL (env ``CLOUDFLARE_BASE_URL``; the emulator's for offline tests).
    - ``gateway``: an AI Gateway id or ``cf_mistral.AIGateway`` (URL or header form, token,
      caching, metadata).
    - ``temperature`` (0-5), ``top_p`` (0-2), ``top_k`` (1-50), ``seed``,
      ``repetition_penalty`` / ``frequency_penalty`` / ``presence_penalty`` (0-2): checked
      against the model's ranges at construction; ``max_tokens`` (default 4096, always sent).
    - ``additional_kwargs``: more parameters of the model's schema (they override the fields).
    - ``timeout`` (seconds or ``cf_mistral.Timeouts``; finite by default), ``max_retries``
      (default 2), ``default_headers``, ``inline_remote_images`` (download web images and send
      them inline; ``private_image_hosts`` names the hosts it may fetch from internal
      addresses), ``http_client`` / ``async_http_client`` (your own httpx clients).
    - ``session_affinity``: a key sent as the ``x-session-affinity`` header (also per call,
      ``chat(messages, session_affinity=...)``), so a conversation's calls reach the replica
      holding its prompt cache; ``pricing``: ``{model id: cf_mistral.ModelPrice}`` for
      ``raw["cost_usd"]``.

    Instantiate and chat:

    >>> from llama_index.core.llms import ChatMessage
    >>> from llama_index_cf_mistral import CloudflareMistral
    >>> llm = CloudflareMistral(temperature=0.2)   # reads CLOUDFLARE_ACCOUNT_ID / _API_TOKEN
    >>> response = llm.chat([ChatMessage(role="user", content="Hello")])
    >>> print(response.message.content)  # doctest: +SKIP
    Hello! How can I help you today?

    Streaming (``delta`` is the new text, ``text`` all of it; the last chunk has the usage):

    >>> chunks = list(llm.stream_complete("Count to three"))
    >>> "".join(chunk.delta for chunk in chunks) == chunks[-1].text
    True
    >>> sorted(chunks[-1].raw["usage"])
    ['completion_tokens', 'prompt_tokens', 'total_tokens']

    Async (``astream_*`` are awaited, then iterated):

    >>> import asyncio
    >>> async def main():
    ...     reply = await llm.acomplete("Hello")
    ...     async for chunk in await llm.astream_chat([ChatMessage(role="user", content="Hi")]):
    ...         pass
    ...     return chunk.message.content
    >>> text = asyncio.run(main())

    Tools (``tool_required=True`` forces a call through constrained decoding):

    >>> from llama_index.core.tools import FunctionTool
    >>> def get_weather(city: str) -> str:
    ...     "Current weather in a city."
    ...     return f"Sunny in {city}"
    >>> tool = FunctionTool.from_defaults(get_weather)
    >>> response = llm.chat_with_tools([tool], user_msg="Use get_weather for Paris")
    >>> [(c.tool_name, c.tool_kwargs) for c in llm.get_tool_calls_from_response(response)]
    [('get_weather', {'city': 'Paris'})]
    >>> forced = llm.chat_with_tools([tool], user_msg="Weather?", tool_required=True)
    >>> llm.get_tool_calls_from_response(forced)[0].tool_name
    'get_weather'

    Structured prediction (native ``guided_json``):

    >>> from pydantic import BaseModel
    >>> from llama_index.core.prompts import PromptTemplate
    >>> class City(BaseModel):
    ...     name: str
    ...     country: str
    >>> city = llm.structured_predict(City, PromptTemplate("Describe {city}"), city="Paris")
    >>> isinstance(city, City)
    True

    Usage (also in ``additional_kwargs``; ``TokenCountingHandler`` reads it; with a
    ``session_affinity`` key it also has ``prompt_tokens_details.cached_tokens``):

    >>> sorted(response.additional_kwargs)
    ['completion_tokens', 'prompt_tokens', 'total_tokens']
    >>> response.raw["usage"] == response.additional_kwargs
    True

    Mistral's tokenizer for LlamaIndex (exact with ``pip install "cf-mistral[tokenizer]"``,
    else about four characters a token), where LlamaIndex counts or splits by tokens:

    >>> from llama_index.core.callbacks import TokenCountingHandler
    >>> counter = TokenCountingHandler(tokenizer=llm.tokenizer)
    >>> len(llm.tokenizer("Hello there, how are you?"))
    7
    """

    model: str = Field(default=DEFAULT_MODEL, description="The Workers AI model id.")
    account_id: str | None = Field(
        default=None, description="Cloudflare account id (default: CLOUDFLARE_ACCOUNT_ID)."
    )
    api_token: SecretStr | None = Field(
        default=None,
        # api_key: the name LlamaIndex's other LLMs use, as LangChain's adapter accepts it too.
        validation_alias=AliasChoices("api_token", "api_key"),
        exclude=True,
        repr=False,
        description="Workers AI API token (default: CLOUDFLARE_API_TOKEN). Never serialized.",
    )
    base_url: str | None = Field(
        default=None, description="API root (default: https://api.cloudflare.com/client/v4)."
    )
    gateway: AIGateway | str | None = Field(
        default=None, description="Route through AI Gateway: a gateway id or an AIGateway."
    )
    temperature: float | None = Field(default=None, description="0 to 5 (server default).")
    max_tokens: int = Field(
        default=DEFAULT_MAX_TOKENS, description="Most tokens to generate; always sent."
    )
    top_p: float | None = Field(default=None, description="0 to 2.")
    top_k: int | None = Field(default=None, description="1 to 50.")
    seed: int | None = Field(default=None, description="1 to 9999999999.")
    repetition_penalty: float | None = Field(default=None, description="0 to 2.")
    frequency_penalty: float | None = Field(default=None, description="0 to 2.")
    presence_penalty: float | None = Field(default=None, description="0 to 2.")
    timeout: float | Timeouts | dict[str, float] | None = Field(
        default=None, description="Seconds, or per phase (connect/read/write/pool/stream_idle)."
    )
    max_retries: int = Field(default=2, ge=0, le=20, description="Retries of retryable errors.")
    default_headers: dict[str, str] = Field(
        default_factory=dict,
        exclude=True,
        repr=False,
        description="Extra request headers (never serialized: they may hold credentials).",
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="More model parameters, by their wire names."
    )
    inline_remote_images: bool = Field(
        default=False, description="Download http(s) image URLs and send them inline."
    )
    max_connections: int = Field(
        default=100,
        ge=1,
        description="Connections open at most, all kept alive between calls; calls beyond it "
        "wait for a free one (up to the pool timeout).",
    )
    private_image_hosts: list[str] = Field(
        default_factory=list,
        description="Host names image downloads may reach on loopback, private or link-local "
        "addresses (refused otherwise); exact names.",
    )
    session_affinity: str | None = Field(
        default=None,
        description="Sent as the x-session-affinity header: calls with the same key reach the "
        "replica that holds their prompt cache. Also per call: chat(..., session_affinity=...).",
    )
    pricing: dict[str, ModelPrice] | None = Field(
        default=None,
        description="{model id: cf_mistral.ModelPrice} overriding the prices behind "
        "raw['cost_usd'].",
    )

    _config: ClientConfig = PrivateAttr()
    _http_client: httpx.Client | None = PrivateAttr(default=None)
    _async_http_client: httpx.AsyncClient | None = PrivateAttr(default=None)
    _client: WorkersAIClient | None = PrivateAttr(default=None)
    _aclient: AsyncWorkersAIClient | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        **data: Any,
    ) -> None:
        # Pydantic's default here ignores unknown keys: a misspelt argument would vanish.
        cf_mistral.check_arguments(type(self), data, extra_name="additional_kwargs")
        super().__init__(**data)
        # Raised here, not at the first call: the message names the parameter and its range.
        check_parameters(
            self._sampling_params(),
            self.additional_kwargs,
            extra_name="additional_kwargs",
            extra_overrides_fields=True,
        )
        self._config = ClientConfig.from_fields(self)
        if http_client is not None or async_http_client is not None:
            cf_mistral.check_http_clients(http_client, async_http_client)
        self._http_client = http_client
        self._async_http_client = async_http_client

    @classmethod
    def class_name(cls) -> str:
        return "CloudflareMistral_LLM"

    @field_serializer("gateway")
    def _gateway_without_token(self, gateway: AIGateway | str | None) -> Any:
        # An Authenticated Gateway's token is a secret too: serialized forms leave it out
        # (pass it again when rebuilding from to_dict / to_json).
        if isinstance(gateway, AIGateway):
            return gateway.model_dump(exclude={"token"}, exclude_none=True)
        return gateway

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=CONTEXT_WINDOW,
            num_output=self.max_tokens,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=self.model,
            system_role=MessageRole.SYSTEM,
        )

    @property
    def tokenizer(self) -> Callable[[str], list[int]]:
        """Mistral's Tekken tokenizer, :func:`cf_mistral.tokenize`: ``Callable[[str], list]``.

        Set it as ``Settings.tokenizer`` (node parsers, prompt fitting, token counts) or pass
        it to ``TokenCountingHandler(tokenizer=...)``.
        """
        return cf_mistral.tokenize

    # -- clients ----------------------------------------------------------------------------

    def _sync_client(self) -> WorkersAIClient:
        if self._client is None:
            self._client = cf_mistral.WorkersAIClient(self._config, http_client=self._http_client)
        return self._client

    def _async_client(self) -> AsyncWorkersAIClient:
        # One core client serves every event loop: it opens a pool per loop it is used from.
        if self._aclient is None:
            self._aclient = cf_mistral.AsyncWorkersAIClient(
                self._config, http_client=self._async_http_client
            )
        return self._aclient

    def close(self) -> None:
        """Close the sync connection pool (only if this LLM created it)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the async connection pool (only if this LLM created it)."""
        client, self._aclient = self._aclient, None
        if client is not None:
            await client.aclose()

    def __getstate__(self) -> dict[str, Any]:
        # Clients hold sockets, locks and an event loop, and callback handlers are the
        # caller's: a copy keeps the fields only, and __setstate__ rebuilds it through
        # __init__, which makes the configuration again; clients are opened lazily.
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        fields.pop("callback_manager", None)
        return {"fields": fields}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, **state["fields"])

    # -- requests ---------------------------------------------------------------------------

    def _sampling_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SAMPLING_FIELDS}

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(overrides) - _PARAMETER_KEYS)
        if unknown:
            raise TypeError(
                f"CloudflareMistral got unexpected keyword argument(s) {unknown}. Per call "
                f"you may pass {', '.join(_REQUEST_KEYS)} and the model parameters "
                f"{', '.join(sorted(_PARAMETER_KEYS))}."
            )
        params = {**self._sampling_params(), **self.additional_kwargs, **overrides}
        return {key: value for key, value in params.items() if value is not None}

    def _request(
        self, messages: Sequence[ChatMessage] | None, kwargs: dict[str, Any], prompt: str = ""
    ) -> ChatRequest:
        options = dict(kwargs)
        tools = [to_core_tool(tool) for tool in options.pop("tools", None) or ()]
        tool_choice = options.pop("tool_choice", None)
        response_schema = options.pop("response_schema", None)
        stop = options.pop("stop", None) or ()
        session_affinity = options.pop("session_affinity", None)
        common: dict[str, Any] = {
            "tools": tools,
            "tool_choice": None if tool_choice is None else tool_choice_for(tool_choice, False),
            "response_schema": response_schema,
            "params": self._params(options),
            "stop": (stop,) if isinstance(stop, str) else tuple(stop),
            "session_affinity": session_affinity,
        }
        if messages is None:
            return ChatRequest(prompt=prompt, raw=True, **common)
        return ChatRequest(messages=to_core_messages(messages), **common)

    def _prompt_request(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> ChatRequest:
        # formatted=True: the prompt already follows Mistral's template, so it goes raw.
        if formatted:
            return self._request(None, kwargs, prompt=prompt)
        return self._request([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)

    # -- chat -------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Send ``messages``; return the reply with its tool calls and usage."""
        return self._chat(self._request(messages, kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Yield the reply as it is generated: the cumulative message and the new text."""
        return self._stream_chat(self._request(messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async :meth:`chat`, on ``httpx.AsyncClient``."""
        return await self._achat(self._request(messages, kwargs))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async :meth:`stream_chat`: ``async for chunk in await llm.astream_chat(...)``."""
        return self._astream_chat(self._request(messages, kwargs))

    # -- complete ---------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """One user message (``formatted=True``: ``prompt`` is sent raw, already templated)."""
        return completion_response(self._chat(self._prompt_request(prompt, formatted, kwargs)))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Streaming :meth:`complete`: ``text`` is cumulative, ``delta`` the new text."""
        chunks = self._stream_chat(self._prompt_request(prompt, formatted, kwargs))
        return (completion_response(chunk) for chunk in chunks)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async :meth:`complete`."""
        request = self._prompt_request(prompt, formatted, kwargs)
        return completion_response(await self._achat(request))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async :meth:`stream_complete`."""
        chunks = self._astream_chat(self._prompt_request(prompt, formatted, kwargs))

        async def gen() -> CompletionResponseAsyncGen:
            async for chunk in chunks:
                yield completion_response(chunk)

        return gen()

    # -- I/O shells -------------------------------------------------------------------------

    def _chat(self, request: ChatRequest) -> ChatResponse:
        return chat_response(self._sync_client().chat(request))

    async def _achat(self, request: ChatRequest) -> ChatResponse:
        return chat_response(await self._async_client().chat(request))

    def _stream_chat(self, request: ChatRequest) -> ChatResponseGen:
        stream = ChatStream()
        # The core's stream is a generator; closing it closes the HTTP response.
        events = self._sync_client().stream(request, snapshots=True)
        try:
            for event in events:
                response = stream.feed(event)
                if response is not None:
                    yield response
        finally:
            events.close()  # closes the HTTP response when the caller stops early

    async def _astream_chat(self, request: ChatRequest) -> ChatResponseAsyncGen:
        stream = ChatStream()
        events = self._async_client().stream(request, snapshots=True)
        try:
            async for event in events:
                response = stream.feed(event)
                if response is not None:
                    yield response
        finally:
            await events.aclose()

    # -- tools ------------------------------------------------------------------------------

    def _prepare_chat_with_tools(  # noqa: PLR0917 (LlamaIndex's signature)
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``chat`` arguments: messages, tool definitions and the resolved ``tool_choice``.

        Workers AI has no ``tool_choice`` parameter: the core forces a required call with
        constrained decoding. Parallel calls cannot be switched off on the server; a reply
        with several is cut to the first in :meth:`_validate_chat_with_tools_response`.
        """
        messages = list(chat_history or [])
        if user_msg is not None:
            if isinstance(user_msg, str):
                user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
            messages.append(user_msg)
        tool_choice = tool_choice_for(kwargs.pop("tool_choice", None), tool_required)
        return {
            "messages": messages,
            "tools": [to_core_tool(tool) for tool in tools],
            "tool_choice": tool_choice if tools else None,
            **kwargs,
        }

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        if allow_parallel_tool_calls:
            return response
        return _first_tool_call_only(response)

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The reply's tool calls as ``ToolSelection``s (nine-character ``tool_id``s).

        Tolerates a streamed chunk's partial arguments; raises ``ValueError`` naming the tool
        and the problem when the model produced arguments that are not a JSON object.
        """
        return tool_selections(response.message, error_on_no_tool_call)

    # -- structured output ------------------------------------------------------------------

    def _native_structured(self) -> bool:
        return self.pydantic_program_mode == PydanticProgramMode.DEFAULT

    @dispatcher.span
    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """An ``output_cls`` instance, decoded under its JSON Schema (``guided_json``)."""
        if not self._native_structured():
            fallback: Model = super().structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return fallback
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        messages = self._extend_messages(prompt.format_messages(**prompt_args))
        response = self.chat(messages, **schema_kwargs(output_cls, llm_kwargs))
        result = parse_structured(output_cls, response)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result))
        return result

    @dispatcher.span
    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """Async :meth:`structured_predict`."""
        if not self._native_structured():
            fallback: Model = await super().astructured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return fallback
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        messages = self._extend_messages(prompt.format_messages(**prompt_args))
        response = await self.achat(messages, **schema_kwargs(output_cls, llm_kwargs))
        result = parse_structured(output_cls, response)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result))
        return result

    @dispatcher.span
    def stream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model | FlexibleModel, None, None]:
        """Ever more complete ``output_cls`` objects, decoded under its schema (``guided_json``)."""
        if not self._native_structured():
            yield from super().stream_structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return
        objects = _StructuredEvents(output_cls, prompt, prompt_args)
        messages = self._extend_messages(prompt.format_messages(**prompt_args))
        for chunk in self.stream_chat(messages, **schema_kwargs(output_cls, llm_kwargs)):
            yield from objects.feed(chunk)
        yield from objects.finish()

    @dispatcher.span
    async def astream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model | FlexibleModel, None]:
        """Async :meth:`stream_structured_predict`."""
        if not self._native_structured():
            return await super().astream_structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
        objects = _StructuredEvents(output_cls, prompt, prompt_args)
        messages = self._extend_messages(prompt.format_messages(**prompt_args))
        chunks = await self.astream_chat(messages, **schema_kwargs(output_cls, llm_kwargs))

        async def gen() -> AsyncGenerator[Model | FlexibleModel, None]:
            async for chunk in chunks:
                for partial in objects.feed(chunk):
                    yield partial
            for complete in objects.finish():
                yield complete

        return gen()


class _StructuredEvents(Generic[Model]):
    """:class:`PartialObjects` with the events LlamaIndex's streamed structured predict sends."""

    def __init__(
        self, output_cls: type[Model], prompt: PromptTemplate, prompt_args: dict[str, Any]
    ) -> None:
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        self._partials = PartialObjects(output_cls)
        self._last: Model | FlexibleModel | None = None

    def feed(self, chunk: ChatResponse) -> list[Model | FlexibleModel]:
        return self._yielded(self._partials.feed(chunk))

    def finish(self) -> list[Model | FlexibleModel]:
        objects = self._yielded(self._partials.finish())
        dispatcher.event(LLMStructuredPredictEndEvent(output=self._last))
        return objects

    def _yielded(self, value: Model | FlexibleModel | None) -> list[Model | FlexibleModel]:
        if value is None:
            return []
        dispatcher.event(LLMStructuredPredictInProgressEvent(output=value))
        self._last = value
        return [value]


def _first_tool_call_only(response: ChatResponse) -> ChatResponse:
    """Keep the first tool call, as LlamaIndex does when parallel calls are not allowed."""
    message = response.message
    calls = [block for block in message.blocks if isinstance(block, ToolCallBlock)]
    if len(calls) <= 1:
        return response
    blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock) or b is calls[0]]
    additional = dict(message.additional_kwargs)
    additional["tool_calls"] = list(additional.get("tool_calls") or [])[:1]
    additional["dropped_tool_calls"] = [block.tool_name for block in calls[1:]]
    trimmed = ChatMessage(role=message.role, blocks=blocks, additional_kwargs=additional)
    return response.model_copy(update={"message": trimmed})
