"""``with_structured_output``: the three methods, built on langchain-core's parsers.

``json_schema`` binds the schema as ``response_format`` (the core sends it as
``guided_json``, so the reply is JSON valid against it); ``function_calling`` binds the schema
as the one tool and forces a call to it; ``json_mode`` constrains the reply to some JSON
object. Replies are parsed by langchain-core's parsers, which stream growing partial objects
and raise ``OutputParserException`` (carrying the raw text) on a reply that does not validate.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.base import OutputParserLike
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel, LanguageModelInput

__all__ = ["structured_output"]

Method = Literal["json_schema", "function_calling", "json_mode"]
_METHODS = ("json_schema", "function_calling", "json_mode")


def structured_output(
    model: BaseChatModel,
    schema: Any,
    *,
    method: Method,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    if method not in _METHODS:
        raise ValueError(
            f"method={method!r} is not one of {list(_METHODS)}: 'json_schema' (constrained "
            "decoding, the default), 'function_calling' or 'json_mode'."
        )
    if schema is None and method != "json_mode":
        raise ValueError(f"method={method!r} needs a schema; only 'json_mode' works without.")
    if strict is not None and method == "json_mode":
        raise ValueError("strict has no meaning with method='json_mode' (no schema to follow).")
    pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    trace = {
        "ls_structured_output_format": {
            "kwargs": {"method": method, "strict": strict},
            "schema": schema,
        }
    }
    llm: Runnable[LanguageModelInput, Any]
    parser: OutputParserLike[Any]
    if method == "function_calling":
        name = convert_to_openai_tool(schema)["function"]["name"]
        llm = model.bind_tools([schema], tool_choice=name, strict=strict, **trace)
        parser = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)
            if pydantic
            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        )
    else:
        if method == "json_schema":
            json_schema = convert_to_json_schema(schema)
            response_format = {
                "type": "json_schema",
                "json_schema": {
                    "name": json_schema.get("title", "response"),
                    "schema": json_schema,
                },
            }
        else:
            response_format = {"type": "json_object"}
        llm = model.bind(response_format=response_format, **trace)
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
    if not include_raw:
        return llm | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    fallback = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parsed.with_fallbacks([fallback], exception_key="parsing_error")
