"""prevalidated: copies equal to validated models, or the validating constructor itself."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, RootModel, field_validator

from cf_mistral._prevalidated import model_state as state
from cf_mistral._prevalidated import prevalidated


class Chunk(BaseModel):
    model_config = ConfigDict(extra="allow")

    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    parts: list[str] = Field(default_factory=list)
    name: str | None = None
    kind: str = "chunk"


class Wrapper(BaseModel):
    chunk: Chunk
    text: str


def test_copies_are_equal_to_validated_models_in_everything_pydantic_keeps() -> None:
    make = prevalidated(Chunk, content="sample")
    assert make is not Chunk
    for text in ("", "hello", "naïve ☃ 𝄞", "x" * 10_000):
        copy, validated = make(content=text), Chunk(content=text)
        assert state(copy) == state(validated)
        assert repr(copy) == repr(validated)
        assert copy.model_dump() == validated.model_dump()
        assert copy.model_dump(exclude_unset=True) == {"content": text}
        assert pickle.loads(pickle.dumps(copy)) == validated


def test_each_copy_has_its_own_mutable_defaults() -> None:
    make = prevalidated(Chunk, content="sample")
    first, second = make(content="a"), make(content="b")
    first.metadata["k"] = 1
    first.parts.append("p")
    assert second.metadata == {}
    assert second.parts == []
    assert make(content="c").metadata == {}
    assert first.__pydantic_extra__ is not second.__pydantic_extra__


def test_copies_behave_like_models_afterwards() -> None:
    copy = prevalidated(Chunk, content="sample")(content="a")
    copy.name = "set later"
    assert "name" in copy.model_fields_set
    assert copy.model_copy(update={"content": "b"}).content == "b"
    assert Chunk.model_validate(copy.model_dump()) == copy


def test_nested_models_are_stored_as_given() -> None:
    make = prevalidated(Wrapper, chunk=Chunk(content="s"), text="s")
    inner = Chunk(content="t")
    copy = make(chunk=inner, text="t")
    assert copy.chunk is inner
    assert state(copy) == state(Wrapper(chunk=inner, text="t"))


class Stripping(BaseModel):
    content: str

    @field_validator("content")
    @classmethod
    def strip(cls, value: str) -> str:
        return value.strip()


class PostInit(BaseModel):
    content: str

    def model_post_init(self, context: Any, /) -> None:
        self.content = self.content.upper()


class Private(BaseModel):
    content: str
    _seen: list[str] = PrivateAttr(default_factory=list)


class NonEmptyDefault(BaseModel):
    content: str
    tags: list[str] = Field(default_factory=lambda: ["default"])


class NestedDefault(BaseModel):
    content: str
    inner: Chunk = Field(default_factory=lambda: Chunk(content=""))


class Root(RootModel[str]):
    pass


@pytest.mark.parametrize(
    ("model", "sample"),
    [
        (Stripping, {"content": " sample "}),  # a validator rewrites the value
        (PostInit, {"content": "sample"}),
        (Private, {"content": "sample"}),
        (NonEmptyDefault, {"content": "sample"}),
        (NestedDefault, {"content": "sample"}),
        (Root, {"root": "sample"}),
    ],
)
def test_what_it_cannot_vouch_for_gets_the_validating_constructor(
    model: type[BaseModel], sample: dict[str, Any]
) -> None:
    assert prevalidated(model, **sample) is model


def test_a_sample_the_constructor_refuses_is_an_error_at_once() -> None:
    with pytest.raises(ValueError, match="content"):
        prevalidated(Chunk, content=1)
