"""Native structured output: a Pydantic class → ``guided_json`` and the reply → an instance.

Workers AI constrains decoding to a JSON Schema (``guided_json``), which guarantees the shape
where a forced tool call only asks for it; so with ``PydanticProgramMode.DEFAULT`` the
structured endpoints send the schema and validate the reply text, and other modes fall back to
LlamaIndex's own programs.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from llama_index.core.base.llms.types import ChatResponse
from llama_index.core.program.streaming_utils import process_streaming_content_incremental
from llama_index.core.program.utils import FlexibleModel, num_valid_fields
from pydantic import BaseModel, ValidationError

__all__ = ["Model", "PartialObjects", "parse_structured", "schema_kwargs"]

# What a structured call must not pass on: the schema replaces any tool use.
_TOOL_KEYS = ("tools", "tool_choice")

Model = TypeVar("Model", bound=BaseModel)


def schema_kwargs(output_cls: type[BaseModel], llm_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``llm_kwargs`` for ``chat`` with the output class's schema as ``response_schema``."""
    kwargs = {key: value for key, value in (llm_kwargs or {}).items() if key not in _TOOL_KEYS}
    kwargs["response_schema"] = output_cls.model_json_schema()
    return kwargs


def parse_structured(output_cls: type[Model], response: ChatResponse) -> Model:
    """Validate the reply text as ``output_cls``; the error names the cause and the fix."""
    text = response.message.content or ""
    try:
        return output_cls.model_validate_json(text)
    except ValidationError as error:
        finish = (
            (response.raw or {}).get("finish_reason") if isinstance(response.raw, dict) else None
        )
        hint = (
            " The reply was cut at max_tokens: raise max_tokens."
            if finish == "length"
            else " Describe the fields in the prompt or in Field(description=...)."
        )
        raise ValueError(
            f"The model's reply is not a valid {output_cls.__name__}: {error.error_count()} "
            f"error(s), first: {error.errors()[0]['msg']} at "
            f"{'.'.join(str(p) for p in error.errors()[0]['loc']) or 'top level'}. "
            f"Reply: {text[:200]!r}.{hint}"
        ) from error


class PartialObjects(Generic[Model]):
    """Stream chunks → ever more complete objects; a chunk that adds nothing yields nothing.

    LlamaIndex's partial-JSON repair can read a prefix such as ``{"name": "Paris", "`` as
    less than the one before it; such a step back is skipped, so every object yielded has
    at least the fields of the previous one.
    """

    def __init__(self, output_cls: type[Model]) -> None:
        self._output_cls = output_cls
        self._current: Model | FlexibleModel | None = None
        self._last: ChatResponse | None = None

    def feed(self, chunk: ChatResponse) -> Model | FlexibleModel | None:
        self._last = chunk
        candidate = process_streaming_content_incremental(chunk, self._output_cls, self._current)
        current = self._current
        if current is not None and (
            _same(candidate, current)
            or num_valid_fields(candidate) < num_valid_fields(current)
            or (
                isinstance(current, self._output_cls)
                and not isinstance(candidate, self._output_cls)
            )
        ):
            return None
        self._current = candidate
        return candidate

    def finish(self) -> Model | None:
        """``None`` when the last object was complete; else raise saying why it is not."""
        if isinstance(self._current, self._output_cls):
            return None
        if self._last is None:
            raise ValueError(f"The stream ended before any {self._output_cls.__name__} data.")
        return parse_structured(self._output_cls, self._last)


def _same(a: BaseModel, b: BaseModel) -> bool:
    # LlamaIndex builds a fresh "Flexible" class per chunk, so == compares unequal types.
    return type(a).__name__ == type(b).__name__ and a.model_dump() == b.model_dump()
