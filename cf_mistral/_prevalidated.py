"""Per-token pydantic objects built without per-token validation.

A streamed reply is thousands of chunks, and the frameworks' chunk types are pydantic models:
validating one LangChain ``ChatGenerationChunk`` (with its ``AIMessageChunk``) takes ~4.5 µs,
and a LlamaIndex ``ChatResponse`` (with its ``ChatMessage`` and ``TextBlock``) about as long,
which is most of what an adapter spends per token. pydantic's own ``model_construct`` skips
validation but is slower still: it inspects every default factory's signature on every call.

:func:`prevalidated` validates once, on a sample, and from then on copies the validated state,
setting only the given fields, the way ``model_construct`` and ``__copy__`` do. It checks on the
sample that a copy equals the validated object, and falls back to the validating constructor
for what it can see it cannot copy: a class with ``model_post_init`` or a root model, a default
that is a non-empty or nested container, a validator that rewrites the sample.

What the sample cannot show, it cannot catch: a validator that changes some values and leaves
the sample's alone (one that strips whitespace, say), or one that derives a field from another
(``ChatGenerationChunk.text`` from its message; the caller passes both). So it is used only on
classes whose validators ignore the values passed, and the adapters' property tests compare its
copies with validated construction over arbitrary text; a framework release that adds such a
validator fails them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["model_state", "prevalidated"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset)
_set_attribute = object.__setattr__


def model_state(model: BaseModel) -> tuple[Any, ...]:
    """Everything pydantic keeps on an instance: what two equal-by-construction models share."""
    return (
        type(model),
        model.__dict__,
        tuple(model.__dict__),  # the order too: repr follows it
        model.__pydantic_fields_set__,
        model.__pydantic_extra__,
        model.__pydantic_private__,
    )


def _copier(template: ModelT, given: frozenset[str]) -> Callable[..., ModelT]:
    """A function building instances of the template's class from its state and new values."""
    model = type(template)
    base = dict(template.__dict__)  # copied and updated, so the fields keep their order (repr)
    # The empty dicts and lists of default factories: a fresh one per instance, so no two
    # instances share mutable state.
    fresh = tuple(
        (k, type(v)) for k, v in base.items() if k not in given and type(v) in (dict, list)
    )
    fields_set = frozenset(template.__pydantic_fields_set__)
    has_extra = template.__pydantic_extra__ is not None
    new = model.__new__

    def build(**values: Any) -> ModelT:
        state = base.copy()
        state.update(values)
        for name, kind in fresh:
            state[name] = kind()
        instance = new(model)
        _set_attribute(instance, "__dict__", state)
        _set_attribute(instance, "__pydantic_fields_set__", set(fields_set))
        _set_attribute(instance, "__pydantic_extra__", {} if has_extra else None)
        _set_attribute(instance, "__pydantic_private__", None)
        return instance

    return build


def _copyable(template: BaseModel, given: frozenset[str]) -> bool:
    """Whether the template's state can be copied as is: immutable or empty defaults only."""
    model = type(template)
    if model.__pydantic_post_init__ is not None or model.__pydantic_root_model__:
        return False
    if template.__pydantic_private__ is not None or template.__pydantic_extra__:
        return False
    return all(
        isinstance(value, _IMMUTABLE) or (type(value) in (dict, list) and not value)
        for name, value in template.__dict__.items()
        if name not in given
    )


def prevalidated(build: Callable[..., ModelT], **sample: Any) -> Callable[..., ModelT]:
    """A constructor equal to ``build`` for calls with ``sample``'s keywords, that skips validation.

    ``build(**sample)`` is validated once; when a copy made with the same values is equal to it
    in every part pydantic keeps (fields, fields set, extras, private state), the copier is
    returned, else ``build`` itself. Call the result with the same keywords as ``sample`` and
    values of the kinds the sample has (the copier stores them as given).
    """
    template = build(**sample)
    given = frozenset(sample)
    if not _copyable(template, given):
        return build
    copier = _copier(template, given)
    try:
        same = model_state(copier(**sample)) == model_state(template)
    except Exception:  # any surprise means: do not trust the copier
        same = False
    return copier if same else build
