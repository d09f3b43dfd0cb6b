"""``ChatCloudflareMistral``: LangChain's chat model over the cf-mistral core clients."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput, ModelProfile
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    MessageLikeRepresentation,
    convert_to_messages,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils import from_env, secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr, SecretStr, model_validator
from typing_extensions import Self

import cf_mistral as cf
from cf_mistral._config import ACCOUNT_ID_ENV_VARS, API_TOKEN_ENV_VARS

if TYPE_CHECKING:
    from cf_mistral import AsyncWorkersAIClient, WorkersAIClient

from langchain_cf_mistral._calls import (
    CallPlan,
    PhaseOneBuffer,
    SingleCallFilter,
    add_usage,
    limit_tool_calls,
    with_usage,
)
from langchain_cf_mistral._errors import adapted_errors, aiter_adapted, iter_adapted
from langchain_cf_mistral._messages import (
    MODEL_PROVIDER,
    event_to_chunk,
    response_format_to_schema,
    result_to_message,
    to_core_messages,
    to_core_tool,
    tool_choice_to_core,
)

__all__ = ["ChatCloudflareMistral"]

# Sampling parameters have their own fields, under their wire names; model_kwargs may carry
# only keys of the model's schema that the core does not build from structure.
_SAMPLING_FIELDS = cf.SAMPLING_PARAMETERS
_MODEL_KWARG_KEYS = frozenset(cf.SAMPLING_PARAMETERS)
# Per-call keyword arguments the adapter understands (besides sampling parameters).
_CALL_KWARGS = frozenset(
    {
        "tools",
        "tool_choice",
        "response_format",
        "parallel_tool_calls",
        "model",
        "stop",
        "session_affinity",
    }
)
# langchain-cloudflare's ChatCloudflareWorkersAI arguments that are not ours by any name: what
# to pass instead (its other names are aliases here; docs/langchain.md maps them all).
_LANGCHAIN_CLOUDFLARE_HINTS = {
    "session_id": "use session_affinity (the same x-session-affinity header)",
    "request_timeout": "use timeout (seconds, a mapping or cf_mistral.Timeouts)",
    "aig_request_timeout": (
        "use gateway=cf_mistral.AIGateway(gateway_id=..., request_timeout_ms=...)"
    ),
    "aig_max_attempts": "use gateway=cf_mistral.AIGateway(gateway_id=..., max_attempts=...)",
    "aig_retry_delay": "use gateway=cf_mistral.AIGateway(gateway_id=..., retry_delay_ms=...)",
    "aig_backoff": "use gateway=cf_mistral.AIGateway(gateway_id=..., backoff=...)",
    "client": "use http_client (an httpx.Client)",
    "async_client": "use http_async_client (an httpx.AsyncClient)",
    "endpoint_format": "no equivalent: the native /ai/run route is the one used",
    "n": "no equivalent: Workers AI returns one reply per call",
    "default_query": "no equivalent: the route reads no query parameters",
    "binding": "no equivalent: this package calls the REST API, not a Worker binding",
}


class ChatCloudflareMistral(BaseChatModel):
    """Mistral Small 3.1 24B Instruct on Cloudflare Workers AI.

    128k context, vision, tool calling and native structured output (constrained decoding),
    over the ``cf_mistral`` core: retries with backoff, finite timeouts, one SSE parser for
    sync and async, and Workers AI's quirks absorbed (9-character tool-call ids, forced tool
    calls, client-side stop sequences, data-URL images).

    Setup:
        Install ``cf-mistral`` and set your credentials::

            pip install cf-mistral           # add [tokenizer] for exact token counts
            export CLOUDFLARE_ACCOUNT_ID="..."
            export CLOUDFLARE_API_TOKEN="..."   # a token with Workers AI permission

    Key init args — completion params:
        model (alias ``model_name``): Workers AI model id; default
            ``@cf/mistralai/mistral-small-3.1-24b-instruct``.
        temperature, max_tokens, top_p, top_k, seed, repetition_penalty, frequency_penalty,
            presence_penalty: sampling parameters, checked against the model's published
            ranges at construction. ``max_tokens`` defaults to 4096 (the server's own default
            of 256 truncates silently).
        stop: stop sequences, applied client-side (Workers AI has no stop parameter).
        model_kwargs: other keys of the model's input schema; unknown keys are refused.

    Key init args — client params:
        account_id (alias ``cloudflare_account_id``): Cloudflare account id (env
            ``CLOUDFLARE_ACCOUNT_ID`` / ``CF_ACCOUNT_ID``).
        api_token (aliases ``api_key``, ``cloudflare_api_token``): API token (env
            ``CLOUDFLARE_API_TOKEN`` and aliases).
        base_url (alias ``cloudflare_api_base``): API base URL (default
            ``https://api.cloudflare.com/client/v4``).
        gateway (aliases ``ai_gateway``, ``cloudflare_ai_gateway``): an AI Gateway id or
            :class:`cf_mistral.AIGateway`.
        session_affinity: a key sent as the ``x-session-affinity`` header, so the calls of one
            conversation reach the replica holding its prompt cache; also per call
            (``invoke(..., session_affinity=thread_id)``).
        pricing: ``{model id: cf_mistral.ModelPrice}`` overriding the prices behind
            ``response_metadata["cost_usd"]``.
        timeout: seconds, or a mapping / :class:`cf_mistral.Timeouts`; finite by default.
        max_retries: retries of 408/429/5xx and connection errors (default 2).
        http_client, http_async_client: your own ``httpx`` clients (proxies, transports).
        inline_remote_images: download http(s) image URLs and send them inline.
        private_image_hosts: host names whose images may be downloaded although they resolve
            to loopback, private or link-local addresses (refused otherwise); exact names.
        max_connections: connections open at most (default 100), all kept alive between calls;
            calls beyond it wait for a free one (up to the ``pool`` timeout).

    Instantiate:
        .. code-block:: python

            from langchain_cf_mistral import ChatCloudflareMistral

            model = ChatCloudflareMistral(temperature=0, max_tokens=512)

    Invoke:
        .. code-block:: python

            messages = [("system", "Answer briefly."), ("human", "Hello there")]
            reply = model.invoke(messages)
            print(reply.text)

    Stream:
        .. code-block:: python

            for chunk in model.stream("Tell me about Paris"):
                print(chunk.text, end="")

    Async:
        .. code-block:: python

            reply = await model.ainvoke("Hello")
            async for chunk in model.astream("Hello"):
                print(chunk.text, end="")
            replies = await model.abatch(["Hello", "Hi"])

    Tool calling:
        .. code-block:: python

            from pydantic import BaseModel, Field


            class GetWeather(BaseModel):
                '''Get the current weather in a city.'''

                city: str = Field(description="The city name")


            with_tools = model.bind_tools([GetWeather])
            reply = with_tools.invoke("Use GetWeather for Paris")
            print(reply.tool_calls)  # [{'name': 'GetWeather', 'args': {'city': ...}, 'id': ...}]

            # Force a call (done by constrained decoding; Workers AI has no tool_choice):
            forced = model.bind_tools([GetWeather], tool_choice="GetWeather")

    Structured output:
        .. code-block:: python

            class Joke(BaseModel):
                setup: str
                punchline: str


            joker = model.with_structured_output(Joke)  # method="json_schema" (guided_json)
            joke = joker.invoke("Tell me a joke about cats")
            print(joke.setup)

    Usage metadata:
        .. code-block:: python

            reply = model.invoke("Hello", session_affinity="conversation-1")
            print(reply.usage_metadata)  # {'input_tokens': ..., 'output_tokens': ..., ...}
            # input_token_details.cache_read: prompt tokens served from the prompt cache
            print(reply.response_metadata["cost_usd"])  # estimated, at $0.35 / $0.56 per M

    Response metadata:
        ``model_name``, ``model_provider`` (``"cloudflare"``), ``finish_reason``
        (``"stop"``, ``"length"`` or ``"tool_calls"``), ``request_id``, ``cost_usd`` and
        ``token_usage`` (the usage as reported, ``neurons`` included).
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str = Field(default=cf.DEFAULT_MODEL, alias="model_name")
    # The cloudflare_* and ai_gateway names are langchain-cloudflare's, so that code written
    # for ChatCloudflareWorkersAI constructs this model unchanged.
    account_id: str | None = Field(
        default_factory=from_env(list(ACCOUNT_ID_ENV_VARS), default=None),
        validation_alias=AliasChoices("account_id", "cloudflare_account_id"),
    )
    api_token: SecretStr | None = Field(
        alias="api_key",
        validation_alias=AliasChoices("api_key", "api_token", "cloudflare_api_token"),
        default_factory=secret_from_env(list(API_TOKEN_ENV_VARS), default=None),
    )
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("base_url", "cloudflare_api_base")
    )
    gateway: cf.AIGateway | str | None = Field(
        default=None,
        validation_alias=AliasChoices("gateway", "ai_gateway", "cloudflare_ai_gateway"),
    )
    # Excluded from serialization: headers can carry secrets (cf-aig-authorization), and
    # langchain-core's caches key on the serialized model.
    default_headers: dict[str, str] | None = Field(default=None, exclude=True)
    session_affinity: str | None = None
    pricing: dict[str, cf.ModelPrice] | None = None

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    timeout: float | cf.Timeouts | dict[str, float] | None = None
    max_retries: int = Field(default=2, ge=0, le=20)
    streaming: bool = False
    inline_remote_images: bool = False
    private_image_hosts: list[str] = Field(default_factory=list)
    max_connections: int = Field(default=100, ge=1)

    # httpx.Client / httpx.AsyncClient. Typed Any (as ChatOpenAI does) so that importing the
    # adapter does not import httpx; the core checks the type when it builds its client.
    http_client: Any | None = Field(default=None, exclude=True)
    http_async_client: Any | None = Field(default=None, exclude=True)

    _config: cf.ClientConfig = PrivateAttr()
    _client: WorkersAIClient | None = PrivateAttr(default=None)
    _aclient: AsyncWorkersAIClient | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_arguments(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        cf.check_arguments(
            cls, values, extra_name="model_kwargs", hints=_LANGCHAIN_CLOUDFLARE_HINTS
        )
        return values

    @model_validator(mode="after")
    def _check_and_configure(self) -> Self:
        fields = {name: getattr(self, name) for name in _SAMPLING_FIELDS}
        cf.check_parameters(
            fields, self.model_kwargs, extra_name="model_kwargs", extra_overrides_fields=False
        )
        self._config = cf.ClientConfig.from_fields(self)
        if self.http_client is not None or self.http_async_client is not None:
            cf.check_http_clients(self.http_client, self.http_async_client)
        return self

    # -- LangChain identity ----------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "cloudflare-mistral-chat"

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_token": "CLOUDFLARE_API_TOKEN"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_cf_mistral", "chat_models"]

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, **self._sampling_params()}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=MODEL_PROVIDER,
            ls_model_name=kwargs.get("model") or self.model,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or kwargs.get("stop") or self.stop
        if stop:
            params["ls_stop"] = list(stop)
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        return ModelProfile(
            name="Mistral Small 3.1 24B Instruct",
            open_weights=True,
            max_input_tokens=cf.CONTEXT_WINDOW,
            text_inputs=True,
            image_inputs=True,
            # Workers AI refuses image URLs; with inline_remote_images the client fetches them.
            image_url_inputs=self.inline_remote_images,
            pdf_inputs=False,
            audio_inputs=False,
            video_inputs=False,
            image_tool_message=False,
            pdf_tool_message=False,
            text_outputs=True,
            tool_calling=True,
            tool_choice=True,
            tool_call_streaming=True,
            structured_output=True,
            reasoning_output=False,
            temperature=True,
        )

    # -- tools and structured output -------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        response_format: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in any LangChain form (BaseTool, function, Pydantic, TypedDict, dict).

        Args:
            tools: the tools the model may call.
            tool_choice: ``"auto"`` (default) lets the model choose; ``"none"`` sends no
                tools; ``"any"``, ``"required"`` or ``True`` force a call to one of them; a
                tool name or ``{"type": "function", "function": {"name": ...}}`` forces that
                tool. Forcing is done with constrained decoding (``guided_json``).
            parallel_tool_calls: ``False`` keeps only the first call of a reply (with a
                warning when more were made); Workers AI has no such parameter.
            strict: make each tool's schema strict (``additionalProperties: false``); forced
                calls are decoded against the schema either way.
            response_format: an OpenAI-style response format (as ``create_agent`` binds it):
                the final answer is JSON constrained to its schema (``guided_json``). With
                tools, the model first gets the tools; only an answer that calls none is
                asked again under the schema.
        """
        with adapted_errors():
            specs = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
            names = [to_core_tool(spec).name for spec in specs]
            choice = tool_choice_to_core(tool_choice)
            if choice not in (None, "auto", "none", "required") and choice not in names:
                raise cf.InvalidRequestError(
                    f"tool_choice={tool_choice!r} names no bound tool; the tools are {names}. "
                    "Pass one of those names, 'auto', 'none', 'any' or 'required'."
                )
            response_format_to_schema(response_format)
        bound: dict[str, Any] = {"tools": specs, **kwargs}
        if choice is not None:
            bound["tool_choice"] = choice
        if parallel_tool_calls is not None:
            bound["parallel_tool_calls"] = parallel_tool_calls
        if response_format is not None:
            bound["response_format"] = response_format
        return super().bind(**bound)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """A runnable that returns ``schema`` instances (Pydantic) or dicts.

        Args:
            schema: a Pydantic v2 or v1 model, a TypedDict, or a JSON schema / OpenAI tool
                dict.
            method: ``"json_schema"`` (default) constrains the reply to the schema natively
                (``guided_json``); ``"function_calling"`` forces a call to the schema as a
                tool; ``"json_mode"`` constrains the reply to some JSON object (describe the
                fields in the prompt).
            include_raw: return ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``
                instead of raising on a reply that does not validate.
            strict: accepted for compatibility; decoding is constrained to the schema anyway.

        Streaming yields growing partial objects.
        """
        from langchain_cf_mistral._structured import structured_output

        if kwargs:
            raise ValueError(f"with_structured_output got unexpected arguments {sorted(kwargs)}.")
        return structured_output(
            self, schema, method=method, include_raw=include_raw, strict=strict
        )

    # -- token counting --------------------------------------------------------------------

    def get_num_tokens_from_messages(
        self,
        messages: Sequence[MessageLikeRepresentation],
        tools: Sequence[Any] | None = None,
    ) -> int:
        """Prompt tokens of ``messages`` (and ``tools``).

        Exact for text with the ``tokenizer`` extra installed (``pip install
        "cf-mistral[tokenizer]"``: Mistral's Tekken tokenizer, from mistral-common's packaged
        vocabulary, offline); otherwise an approximation of about four characters per token.
        Images count as a fixed estimate. The count is :func:`cf_mistral.count_prompt_tokens`.

        >>> from langchain_core.messages import HumanMessage
        >>> from langchain_cf_mistral import ChatCloudflareMistral
        >>> model = ChatCloudflareMistral(account_id="acct", api_token="token")
        >>> model.get_num_tokens_from_messages([HumanMessage("Hello there, how are you?")])
        10
        >>> model.get_num_tokens("Hello there, how are you?")
        7
        """
        with adapted_errors():
            core_tools = [to_core_tool(tool) for tool in tools or ()]
            core_messages = to_core_messages(convert_to_messages(messages))
            return cf.count_prompt_tokens(core_messages, core_tools)

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone, counted as :meth:`get_num_tokens_from_messages` does."""
        return cf.count_text_tokens(text)

    # -- requests ----------------------------------------------------------------------------

    def _sampling_params(self) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in _SAMPLING_FIELDS}
        return {k: v for k, v in {**params, **self.model_kwargs}.items() if v is not None}

    def _plan(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> CallPlan:
        unknown = sorted(set(kwargs) - _CALL_KWARGS - _MODEL_KWARG_KEYS)
        if unknown:
            raise cf.InvalidRequestError(
                f"Unexpected call argument(s) {unknown}: pass sampling parameters by name "
                f"({', '.join(sorted(_MODEL_KWARG_KEYS))}), or model, tools, tool_choice, "
                "response_format, stop, session_affinity."
            )
        params = self._sampling_params()
        params.update({k: v for k, v in kwargs.items() if k in _MODEL_KWARG_KEYS})
        stop_sequences = stop if stop is not None else kwargs.get("stop", self.stop)
        tools = [to_core_tool(tool) for tool in kwargs.get("tools") or ()]
        tool_choice = tool_choice_to_core(kwargs.get("tool_choice"))
        schema = response_format_to_schema(kwargs.get("response_format"))
        request = cf.ChatRequest(
            messages=to_core_messages(messages),
            tools=tools,
            tool_choice=tool_choice,
            params=params,
            stop=tuple(stop_sequences or ()),
            inline_remote_images=self.inline_remote_images,
            session_affinity=kwargs.get("session_affinity"),
        )
        uses_tools = bool(tools) and tool_choice != "none"
        then = None
        if schema is not None:
            then = _replace(request, tools=(), tool_choice=None, response_schema=schema)
            if not uses_tools:
                request, then = then, None
        return CallPlan(
            request=request,
            model=kwargs.get("model"),
            then=then,
            single_tool_call=kwargs.get("parallel_tool_calls") is False,
        )

    @property
    def _sync_client(self) -> cf.WorkersAIClient:
        if self._client is None:
            self._client = cf.WorkersAIClient(self._config, http_client=self.http_client)
        return self._client

    @property
    def _async_client(self) -> cf.AsyncWorkersAIClient:
        # One core client serves every event loop: it opens a pool per loop it is used from.
        if self._aclient is None:
            self._aclient = cf.AsyncWorkersAIClient(
                self._config, http_client=self.http_async_client
            )
        return self._aclient

    def close(self) -> None:
        """Close the connection pool this model opened (an injected ``http_client`` stays open)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close this model's connection pools, sync and async (injected clients stay open)."""
        self.close()
        client, self._aclient = self._aclient, None
        if client is not None:
            await client.aclose()

    # -- BaseChatModel hooks -------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with adapted_errors():
            plan = self._plan(messages, stop, kwargs)
            client = self._sync_client
            result = client.chat(plan.request, model=plan.model)
            if plan.then is not None and not result.tool_calls:
                second = client.chat(plan.then, model=plan.model)
                result = _replace(second, usage=add_usage(result.usage, second.usage))
        return _chat_result(result, plan)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with adapted_errors():
            plan = self._plan(messages, stop, kwargs)
            client = self._async_client
            result = await client.chat(plan.request, model=plan.model)
            if plan.then is not None and not result.tool_calls:
                second = await client.chat(plan.then, model=plan.model)
                result = _replace(second, usage=add_usage(result.usage, second.usage))
        return _chat_result(result, plan)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with adapted_errors():
            plan = self._plan(messages, stop, kwargs)
        client = self._sync_client
        earlier: cf.Usage | None = None
        if plan.then is not None:
            phase_one = PhaseOneBuffer()
            for event in iter_adapted(client.stream(plan.request, model=plan.model)):
                for released in phase_one.feed(event):
                    if (chunk := _generation(released)) is not None:
                        if run_manager is not None and chunk.text:
                            run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
            if phase_one.called_tool:
                return
            request, earlier = plan.then, phase_one.usage
        else:
            request = plan.request
        single = SingleCallFilter() if plan.single_tool_call else None
        # The per-token hot path: errors adapted around the loop rather than by a generator
        # layer per event.
        events = client.stream(request, model=plan.model)
        try:
            with adapted_errors():
                for event in events:
                    if (chunk := _chunk_for(event, single, earlier)) is not None:
                        if run_manager is not None and chunk.text:
                            run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
        finally:
            events.close()  # closes the HTTP response when the caller stops early

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        with adapted_errors():
            plan = self._plan(messages, stop, kwargs)
        client = self._async_client
        earlier: cf.Usage | None = None
        if plan.then is not None:
            phase_one = PhaseOneBuffer()
            async for event in aiter_adapted(client.stream(plan.request, model=plan.model)):
                for released in phase_one.feed(event):
                    if (chunk := _generation(released)) is not None:
                        if run_manager is not None and chunk.text:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
            if phase_one.called_tool:
                return
            request, earlier = plan.then, phase_one.usage
        else:
            request = plan.request
        single = SingleCallFilter() if plan.single_tool_call else None
        events = client.stream(request, model=plan.model)
        try:
            with adapted_errors():
                async for event in events:
                    if (chunk := _chunk_for(event, single, earlier)) is not None:
                        if run_manager is not None and chunk.text:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
        finally:
            await events.aclose()  # closes the HTTP response when the caller stops early


def _replace(value: Any, **changes: Any) -> Any:
    return dataclasses.replace(value, **changes)


def _chat_result(result: cf.ChatResult, plan: CallPlan) -> ChatResult:
    if plan.single_tool_call:
        result = limit_tool_calls(result)
    message = result_to_message(result)
    return ChatResult(
        generations=[ChatGeneration(message=message)],
        llm_output={"model_name": result.model},
    )


def _chunk_for(
    event: cf.StreamEvent, single: SingleCallFilter | None, earlier: cf.Usage | None
) -> ChatGenerationChunk | None:
    """The chunk for one event of the (last) stream, or ``None``; shared by sync and async."""
    if single is not None and not single.keep(event):
        return None
    return _generation(with_usage(event, earlier))


def _generation(event: cf.StreamEvent) -> ChatGenerationChunk | None:
    chunk = event_to_chunk(event)
    return None if chunk is None else ChatGenerationChunk(message=chunk)
