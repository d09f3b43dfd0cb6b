"""What the model's published input schema allows, read once from the packaged copy."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo

from cf_mistral._errors import InvalidParameterError, InvalidRequestError

__all__ = [
    "CONTEXT_WINDOW",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "MODEL_INPUT_KEYS",
    "SAMPLING_PARAMETERS",
    "SAMPLING_RANGES",
    "STRUCTURAL_KEYS",
    "check_arguments",
    "check_parameters",
    "check_sampling_params",
    "model_schema",
]

DEFAULT_MODEL = "@cf/mistralai/mistral-small-3.1-24b-instruct"
CONTEXT_WINDOW = 128_000
# The server's own default is 256 and truncates silently, so the client always sends a value.
DEFAULT_MAX_TOKENS = 4096


@lru_cache(maxsize=1)
def model_schema() -> dict[str, Any]:
    """The model's published schema (input and output), as Cloudflare's docs give it."""
    text = resources.files("cf_mistral._data").joinpath("model-schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _input_properties() -> dict[str, dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = {}
    for variant in model_schema()["schema"]["input"]["oneOf"]:
        properties.update(variant["properties"])
    return properties


# name -> (minimum, maximum, integer?) exactly as the published schema gives them.
SAMPLING_RANGES: dict[str, tuple[float, float, bool]] = {
    name: (
        float(spec.get("minimum", 1 if name == "max_tokens" else -math.inf)),
        float(spec.get("maximum", math.inf)),
        spec.get("type") == "integer",
    )
    for name, spec in _input_properties().items()
    if spec.get("type") in ("number", "integer")
}

# Every top-level key the published schema declares (both the prompt and the messages forms).
MODEL_INPUT_KEYS: frozenset[str] = frozenset(_input_properties())
# The keys the core builds from a ChatRequest's structure, never passed as plain parameters.
STRUCTURAL_KEYS: frozenset[str] = frozenset(
    {"messages", "prompt", "raw", "stream", "tools", "functions", "guided_json"}
)
# The rest: the sampling parameters, in the schema's order. Adapters expose each as a field.
SAMPLING_PARAMETERS: tuple[str, ...] = tuple(
    name for name in _input_properties() if name not in STRUCTURAL_KEYS
)


def _format_bound(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def check_sampling_params(params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` without ``None`` values, or raise naming the parameter and its range.

    >>> check_sampling_params({"temperature": 0.2, "top_k": None})
    {'temperature': 0.2}
    """
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        bounds = SAMPLING_RANGES.get(name)
        if bounds is None:
            checked[name] = value
            continue
        low, high, integer = bounds
        wanted = "an integer" if integer else "a number"
        span = (
            f"{_format_bound(low)} to {_format_bound(high)}"
            if math.isfinite(high)
            else f"at least {_format_bound(low)}"
        )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParameterError(
                f"{name}={value!r} is not {wanted}; the model accepts {span}."
            )
        if integer and not float(value).is_integer():
            raise InvalidParameterError(
                f"{name}={value!r} must be an integer; the model accepts {span}."
            )
        if not low <= value <= high or (isinstance(value, float) and math.isnan(value)):
            raise InvalidParameterError(
                f"{name}={value!r} is outside the model's range: pass {wanted} from {span}."
                if math.isfinite(high)
                else f"{name}={value!r} is outside the model's range: pass {wanted} {span}."
            )
        checked[name] = int(value) if integer else value
    return checked


def check_parameters(
    fields: Mapping[str, Any],
    extra: Mapping[str, Any],
    *,
    extra_name: str,
    extra_overrides_fields: bool,
) -> dict[str, Any]:
    """An adapter's sampling parameters: its own fields plus its catch-all dict, checked.

    ``extra`` (LangChain's ``model_kwargs``, LlamaIndex's ``additional_kwargs``) may hold only
    parameters of the model's schema; every value must be in range. The frameworks differ on a
    key given both ways: LlamaIndex lets ``additional_kwargs`` win
    (``extra_overrides_fields=True``), LangChain asks for each parameter once. Returns the
    merged parameters without ``None`` values.
    """
    unknown = sorted(set(extra) - set(SAMPLING_PARAMETERS))
    if unknown:
        raise InvalidParameterError(
            f"{extra_name} has {unknown}, which are not parameters of {DEFAULT_MODEL}; its "
            f"parameters are {', '.join(SAMPLING_PARAMETERS)}. Nothing unknown is sent to "
            "Workers AI (guided_json comes from structured output; stop sequences go in stop)."
        )
    twice = sorted(set(extra) & set(fields))
    if twice and not extra_overrides_fields:
        raise InvalidParameterError(
            f"{twice} set both as their own arguments and in {extra_name}: pass each once, "
            "as its own argument."
        )
    return check_sampling_params({**fields, **extra})


def _accepted_names(field: FieldInfo) -> list[str]:
    """Every name a field is accepted by: its alias and its validation aliases."""
    names = [field.alias] if field.alias else []
    choices = field.validation_alias
    if isinstance(choices, AliasChoices):
        names.extend(choice for choice in choices.choices if isinstance(choice, str))
    elif isinstance(choices, str):
        names.append(choices)
    return names


def check_arguments(
    model_class: type[BaseModel],
    given: Iterable[str],
    *,
    extra_name: str,
    hints: Mapping[str, str] | None = None,
) -> None:
    """Refuse keyword arguments ``model_class`` has no field for, suggesting the close match.

    A misspelt argument (``temprature=0.2``) would otherwise be dropped without a word. Field
    names and aliases are accepted. A model parameter without a field of its own is pointed to
    ``extra_name`` (LangChain's ``model_kwargs``, LlamaIndex's ``additional_kwargs``);
    ``hints`` maps other known names (another integration's, say) to what to do instead.

    >>> from pydantic import BaseModel
    >>> class Settings(BaseModel):
    ...     temperature: float = 0.0
    >>> check_arguments(Settings, {"temprature": 0.2}, extra_name="model_kwargs")
    Traceback (most recent call last):
    cf_mistral.InvalidRequestError: Settings got unknown argument(s) 'temprature' \
(did you mean 'temperature'?). Nothing unknown is ever sent to Workers AI.
    """
    fields = model_class.model_fields
    known = set(fields) | {name for field in fields.values() for name in _accepted_names(field)}
    unknown = sorted(name for name in given if name not in known)
    if not unknown:
        return
    hints = hints or {}
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(known), n=1)
        if name in hints:
            named.append(f"{name!r} ({hints[name]})")
        elif close:
            named.append(f"{name!r} (did you mean {close[0]!r}?)")
        else:
            named.append(repr(name))
    parameters = [name for name in unknown if name in SAMPLING_PARAMETERS]
    raise InvalidRequestError(
        f"{model_class.__name__} got unknown argument(s) {', '.join(named)}."
        + (f" Pass {parameters} in {extra_name}." if parameters else "")
        + " Nothing unknown is ever sent to Workers AI."
    )
