"""``stream`` and ``astream`` that merge the reply as it arrives instead of keeping every chunk.

langchain-core's ``BaseChatModel.stream`` keeps each chunk it yields in a list until the stream
ends, only to merge them for ``on_llm_end``. A chunk and its message take about 1.7 kB, and a
token of text is a few bytes, so a long reply costs over 200 times its size in memory, for
every chat model. ``ChatCloudflareMistral.stream`` takes the same steps, through the same
langchain-core helpers (callbacks, message ids, response metadata, the closing
``chunk_position="last"`` chunk, the error report), with that list replaced by
:class:`RunningMerge`, which keeps runs of text as text. The chunks callers and callbacks are
handed are the same objects; ``on_llm_end`` and ``on_llm_error`` get an equal merge (one
deliberate exception: see :class:`RunningMerge`). ``tests/langchain/test_streaming.py`` runs
this and langchain-core's method side by side and fails on any difference; ``make test`` runs
it on the locked langchain-core and on the oldest one ``pyproject.toml`` accepts, so a release
that changes its method shows up there.

An ``invoke`` that langchain-core streams (a streaming callback is attached, as LangGraph's
``stream_mode="messages"`` and ``astream_events`` over a chain attach one, or
``streaming=True``) keeps the same list in ``_generate_with_cache``. The model's
``_should_stream`` hands those calls to its ``_generate`` / ``_agenerate``, which take that
method's steps with :class:`StreamRun` and hand ``generate_from_stream`` the chunks a
:class:`RunningMerge` kept.

langchain-core's methods run instead when these would differ from them or could not keep up:
content blocks (``output_version="v1"``), a model told not to stream (``disable_streaming``;
``stream`` falls back to ``invoke``), and a langchain-core whose helpers have moved.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult, LLMResult
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.utils.utils import LC_ID_PREFIX

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel, LanguageModelInput
    from langchain_core.messages import BaseMessage

try:  # langchain-core's own steps, private there; present from 1.6 through 1.8
    from langchain_core.language_models._utils import (
        _filter_invocation_params_for_tracing,
        _normalize_messages,
    )
    from langchain_core.language_models.chat_models import (
        _format_for_tracing,
        _format_ls_structured_output,
        _gen_info_and_msg_metadata,
        _generate_response_from_error,
    )
except ImportError:  # pragma: no cover - a langchain-core that reshaped its internals
    HELPERS_FOUND = False
else:
    HELPERS_FOUND = True

__all__ = [
    "STREAMED_INVOKES",
    "RunningMerge",
    "StreamRun",
    "StreamStart",
    "start_stream",
    "streams_lean",
]

# Text pieces joined into one string at a time: bounds the list of small strings a run holds.
_PIECES_PER_BLOCK = 1024

# An AIMessageChunk's fields, but its content and id, when it carries nothing but text.
_TEXT_ONLY = tuple(
    (name, value)
    for name, value in AIMessageChunk(content="").__dict__.items()
    if name not in ("content", "id")
)


def _is_text_only(chunk: ChatGenerationChunk) -> bool:
    if type(chunk) is not ChatGenerationChunk:
        return False
    message = chunk.message
    if type(message) is not AIMessageChunk or type(message.content) is not str:
        return False
    if chunk.generation_info is not None:
        return False
    fields = message.__dict__
    return all(fields.get(name) == value for name, value in _TEXT_ONLY)


def _text_generation(text: str, message_id: str | None) -> ChatGenerationChunk:
    message = AIMessageChunk(content=text, id=message_id)
    # Not validated: validation would set ``text`` to a copy of the whole reply.
    return ChatGenerationChunk.model_construct(message=message, text=text)


class RunningMerge:
    """What ``merge_chat_generation_chunks`` makes of every chunk added, held in O(reply).

    Consecutive chunks that carry only text under one id merge into one chunk of their joined
    text; every other chunk (tool-call pieces, usage, metadata) is kept as it is, and so is a
    text chunk with no text-only neighbour. Adding chunks is associative for such runs (their
    contents concatenate; every other field is empty), so the merge of the kept chunks equals
    the merge of all of them. One difference remains, by design: the text is read when a chunk
    is added, so code that rewrites a chunk's content after receiving it (a caller of ``stream``;
    a callback, LangGraph's messages stream or ``astream_events`` for an invoke) changes
    langchain-core's merge but not this one. Nothing in langchain-core or LangGraph does.
    """

    def __init__(self) -> None:
        self._kept: list[ChatGenerationChunk] = []
        self._first: ChatGenerationChunk | None = None  # the current run's first chunk
        self._run_length = 0
        self._pieces: list[str] = []
        self._blocks: list[str] = []

    def add(self, chunk: ChatGenerationChunk) -> None:
        if not _is_text_only(chunk):
            self._close_run()
            self._kept.append(chunk)
            return
        if self._first is not None and chunk.message.id != self._first.message.id:
            self._close_run()
        if self._first is None:
            self._first = chunk
        self._run_length += 1
        pieces = self._pieces
        pieces.append(chunk.message.content)  # type: ignore[arg-type]  # str, checked above
        if len(pieces) >= _PIECES_PER_BLOCK:
            self._blocks.append("".join(pieces))
            pieces.clear()

    def chunks(self) -> list[ChatGenerationChunk]:
        """The chunks kept so far, whose merge is the merge of every chunk added."""
        self._close_run()
        return self._kept

    def result(self) -> ChatGenerationChunk | None:
        """The merge so far (``None`` before the first chunk)."""
        return merge_chat_generation_chunks(self.chunks())

    def _close_run(self) -> None:
        first = self._first
        if first is None:
            return
        if self._run_length == 1:
            # Kept whole: langchain-core hands back a lone chunk itself, not a merge of it.
            self._kept.append(first)
        else:
            self._blocks.extend(self._pieces)
            # A merge keeps the first truthy id of its chunks: none, for a run of empty ids.
            self._kept.append(_text_generation("".join(self._blocks), first.message.id or None))
        self._first, self._run_length, self._blocks, self._pieces = None, 0, [], []


def streams_lean(model: BaseChatModel) -> bool:
    """Whether this module can take langchain-core's steps for the model's streamed calls.

    langchain-core streams ``stream``/``astream``, and an ``invoke`` when a streaming callback
    is attached (LangGraph's ``stream_mode="messages"``, ``astream_events`` over a chain) or
    ``streaming=True``, keeping every chunk in a list; :class:`StreamRun` keeps what a
    :class:`RunningMerge` keeps instead.
    """
    return HELPERS_FOUND and model.output_version != "v1"


# The invokes langchain-core chose to stream and the model's _should_stream took over, by run
# manager (one per call): _generate / _agenerate stream those. Weak, so nothing outlives a call.
STREAMED_INVOKES: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


class StreamRun:
    """One streamed call less its I/O: langchain-core's steps for each chunk, and its reports.

    Shared by ``stream``/``astream`` and the streamed invokes, sync and async alike: the shells
    call :meth:`prepare`, then ``on_llm_new_token``, then :meth:`add` for each chunk, and end
    with :meth:`closing` (the closing chunk, when the last one was not one).
    """

    def __init__(self, run_id: Any) -> None:
        # The id langchain-core gives a streamed message that has none of its own.
        self._message_id = "-".join((LC_ID_PREFIX, str(run_id)))
        self._merge = RunningMerge()
        self._last: ChatGenerationChunk | None = None

    def prepare(self, chunk: ChatGenerationChunk) -> None:
        """What langchain-core does to each chunk before handing it on."""
        if chunk.message.id is None:
            chunk.message.id = self._message_id
        chunk.message.response_metadata = _gen_info_and_msg_metadata(chunk)
        self._last = chunk

    def add(self, chunk: ChatGenerationChunk) -> None:
        self._merge.add(chunk)

    def closing(self) -> ChatGenerationChunk | None:
        """The empty ``chunk_position="last"`` chunk ending a stream whose last chunk is not."""
        last = self._last
        if last is None or not isinstance(last.message, AIMessageChunk):
            return None
        if last.message.chunk_position:
            return None
        empty: str | list[Any] = "" if isinstance(last.message.content, str) else []
        message = AIMessageChunk(content=empty, chunk_position="last", id=self._message_id)
        return ChatGenerationChunk(message=message)

    def generation(self) -> ChatGenerationChunk | None:
        """The merge a stream reports with ``on_llm_end`` (``None``: no chunk came)."""
        return self._merge.result()

    def chat_result(self) -> ChatResult:
        """What a streamed invoke returns, as ``generate_from_stream`` makes it."""
        return generate_from_stream(iter(self._merge.chunks()))

    def error_response(self, error: BaseException) -> LLMResult:
        """The ``response`` a stream reports with ``on_llm_error``: the merge so far, if any."""
        with_error = _generate_response_from_error(error)
        so_far = self._merge.result()
        generations: list[list[Any]] = [[so_far], with_error] if so_far else [with_error]
        return LLMResult(generations=generations)


@dataclass
class StreamStart:
    """What a stream starts from: the arguments of its callback manager and of its start."""

    messages: list[BaseMessage]
    configure: dict[str, Any]
    on_start: dict[str, Any]

    def input_messages(self) -> list[BaseMessage]:
        return _normalize_messages(self.messages)


def start_stream(
    model: BaseChatModel,
    input: LanguageModelInput,
    config: RunnableConfig | None,
    stop: list[str] | None,
    kwargs: dict[str, Any],
) -> StreamStart:
    """langchain-core's set-up of a streamed call; pops its tracing-only ``kwargs``."""
    config = ensure_config(config)
    messages = model._convert_input(input).to_messages()
    structured_output_format = kwargs.pop("ls_structured_output_format", None) or kwargs.pop(
        "structured_output_format", None
    )
    params = model._get_invocation_params(stop=stop, **kwargs)
    options = {
        "stop": stop,
        **{key: params[key] for key in kwargs if key in params},
        **_format_ls_structured_output(structured_output_format),
    }
    inheritable_metadata = {
        **(config.get("metadata") or {}),
        **model._get_ls_params_with_defaults(stop=stop, **kwargs),
    }
    configure = {
        "inheritable_callbacks": config.get("callbacks"),
        "local_callbacks": model.callbacks,
        "verbose": model.verbose,
        "inheritable_tags": config.get("tags"),
        "local_tags": model.tags,
        "inheritable_metadata": inheritable_metadata,
        "local_metadata": model.metadata,
        "langsmith_inheritable_metadata": _filter_invocation_params_for_tracing(params),
    }
    on_start = {
        "serialized": model._serialized,
        "messages": [_format_for_tracing(messages)],
        "invocation_params": params,
        "options": options,
        "name": config.get("run_name"),
        "run_id": config.pop("run_id", None),
        "batch_size": 1,
    }
    return StreamStart(messages, configure, on_start)
