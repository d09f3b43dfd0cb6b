"""cf-mistral uses only what its dependencies promise, outside ``cf_mistral/_compat.py``.

Read from the source (AST), for every module of the three packages but the compatibility
module:

- no import of a private name of langchain-core, llama-index-core, httpx, httpcore or pydantic
  (``from httpx._urls import URL``, ``import langchain_core.language_models._utils``,
  ``from langchain_core.utils.utils import _merge``);
- no private attribute our own code does not define (``error._request = None``,
  ``client._transport``, ``model._convert_input(...)``, ``getattr(pool, "_requests")``): a
  ``._name`` that no module of ours defines belongs to a dependency;
- no call through ``super()`` of a private method a dependency's base class defines
  (``super()._should_stream(...)``), even one we override;
- no pydantic internal state (``__pydantic_private__`` and the like), by attribute or by key.

The two exceptions LlamaIndex's own LLMs lean on are allowed: ``_extend_messages`` and the
base class's system-prompt helper that its ``_extend_messages`` uses.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cf_mistral", "langchain_cf_mistral", "llama_index_cf_mistral", "llama_index")
COMPAT = ROOT / "cf_mistral" / "_compat.py"
DEPENDENCIES = ("langchain_core", "llama_index", "httpx", "httpcore", "pydantic")
# Private methods of LlamaIndex's LLM base class that its own integrations are meant to use.
ALLOWED = frozenset({"_extend_messages", "_extend_prompt"})
# BaseChatModel's private machinery that a chat model must not call (its hooks are fine).
BASE_CHAT_MODEL_PRIVATE = (
    "_convert_input",
    "_get_invocation_params",
    "_get_ls_params_with_defaults",
)


def modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        found += sorted((ROOT / package).rglob("*.py"))
    return [path for path in found if path != COMPAT]


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dependency(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in DEPENDENCIES


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def private_imports(path: Path, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _dependency(alias.name) and any(map(_private, alias.name.split("."))):
                    yield f"{_where(path, node)} import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not _dependency(node.module):
                continue
            if any(map(_private, node.module.split("."))):
                yield f"{_where(path, node)} from {node.module} import ..."
            for alias in node.names:
                if _private(alias.name):
                    yield f"{_where(path, node)} from {node.module} import {alias.name}"


def _slot_names(node: ast.AST) -> Iterator[str]:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                yield element.value


@dataclass
class Ours:
    """The names our modules define, and of those, the attributes they store data in."""

    names: set[str] = field(default_factory=set)
    data: set[str] = field(default_factory=set)


def names_we_define(trees: list[ast.Module]) -> Ours:
    """Functions, classes, assigned names; attributes set on self/cls or declared in classes."""
    ours = Ours()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ours.names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                ours.names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    ours.data.add(node.attr)
            elif isinstance(node, ast.alias) and node.asname:
                ours.names.add(node.asname)
            if isinstance(node, ast.ClassDef):
                for statement in node.body:  # fields and private attributes declared here
                    if isinstance(statement, ast.AnnAssign) and isinstance(
                        statement.target, ast.Name
                    ):
                        ours.data.add(statement.target.id)
                    elif isinstance(statement, ast.Assign):
                        for target in statement.targets:
                            if isinstance(target, ast.Name) and target.id == "__slots__":
                                ours.data.update(_slot_names(statement.value))
    ours.names |= ours.data
    return ours


_ATTRIBUTE_FUNCTIONS = ("getattr", "hasattr", "setattr", "delattr")


def foreign_attributes(path: Path, tree: ast.Module, ours: Ours) -> Iterator[str]:
    """Private attributes no module of ours defines; stores, unless ours store data in them."""
    for node in ast.walk(tree):
        name, known = None, ours.names
        if isinstance(node, ast.Attribute):
            name = node.attr
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if isinstance(node.ctx, ast.Store) and not on_self:
                known = ours.data  # e.g. error._request = None, though we have a _request()
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name = node.args[1].value
            if node.func.id != "getattr" and node.func.id != "hasattr":
                known = ours.data
        if name is not None and _private(name) and name not in known and name not in ALLOWED:
            yield f"{_where(path, node)} .{name}"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def private_super_calls(path: Path, tree: ast.Module) -> Iterator[str]:
    """``super()._name`` in a class of ours whose base defining ``_name`` is not ours."""
    for class_node in tree.body:
        if not isinstance(class_node, ast.ClassDef):
            continue
        for node in ast.walk(class_node):
            if not (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and node.attr not in ALLOWED
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super"
            ):
                continue
            cls = getattr(importlib.import_module(_module_name(path)), class_node.name)
            owner = next(base for base in cls.__mro__[1:] if node.attr in vars(base))
            if owner.__module__.split(".", maxsplit=1)[0] not in PACKAGES:
                yield f"{_where(path, node)} super().{node.attr} ({owner.__module__})"


def pydantic_internals(path: Path, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        if text is not None and text.startswith("__pydantic_"):
            yield f"{_where(path, node)} {text}"


@pytest.fixture(scope="module")
def trees() -> dict[Path, ast.Module]:
    return {path: parsed(path) for path in modules()}


def test_the_packages_and_the_compatibility_module_are_found(trees: dict[Path, ast.Module]) -> None:
    assert COMPAT.exists()
    assert len(trees) > 40
    assert ROOT / "langchain_cf_mistral" / "_chat_model.py" in trees


def test_no_module_imports_a_private_name_of_a_dependency(trees: dict[Path, ast.Module]) -> None:
    found = [line for path, tree in trees.items() for line in private_imports(path, tree)]
    assert found == [], "private imports outside cf_mistral/_compat.py:\n" + "\n".join(found)


def test_no_module_touches_a_private_attribute_it_does_not_define(
    trees: dict[Path, ast.Module],
) -> None:
    ours = names_we_define(list(trees.values()))
    found = [line for path, tree in trees.items() for line in foreign_attributes(path, tree, ours)]
    assert found == [], "private attributes of dependencies:\n" + "\n".join(found)


def test_no_class_calls_a_private_method_of_a_dependencys_base_class(
    trees: dict[Path, ast.Module],
) -> None:
    found = [line for path, tree in trees.items() for line in private_super_calls(path, tree)]
    assert found == [], "private base-class methods called:\n" + "\n".join(found)


def test_no_module_reads_or_writes_pydantic_internal_state(
    trees: dict[Path, ast.Module],
) -> None:
    found = [line for path, tree in trees.items() for line in pydantic_internals(path, tree)]
    assert found == [], "pydantic internals:\n" + "\n".join(found)


@pytest.mark.parametrize("method", BASE_CHAT_MODEL_PRIVATE)
def test_no_module_calls_base_chat_models_private_machinery(
    method: str, trees: dict[Path, ast.Module]
) -> None:
    calls = [
        _where(path, node)
        for path, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == method
    ]
    assert calls == []


# -- the checks catch what they are meant to catch ----------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "from httpx._urls import URL",
        "import langchain_core.language_models._utils",
        "from langchain_core.language_models.chat_models import _format_for_tracing",
        "from pydantic._internal import _model_construction",
        "from llama_index.core.base.llms import _private",
    ],
)
def test_private_imports_are_caught(source: str) -> None:
    assert list(private_imports(COMPAT, ast.parse(source)))


@pytest.mark.parametrize(
    "source",
    [
        "from httpx import __version__",
        "from cf_mistral._config import ClientConfig",
        "from langchain_core.messages import AIMessage",
        "import httpx",
    ],
)
def test_public_and_own_imports_pass(source: str) -> None:
    assert not list(private_imports(COMPAT, ast.parse(source)))


@pytest.mark.parametrize(
    "source",
    [
        "error._request = None",
        "setattr(error, '_request', None)",
        "client._transport",
        "getattr(client, '_transport', None)",
        "messages = model._convert_input(value)",
        "super()._should_stream(async_api=True)",
    ],
)
def test_foreign_private_attributes_are_caught(source: str) -> None:
    ours = names_we_define(
        [ast.parse("self._client = None\ndef _plan(): ...\ndef _request(): ...")]
    )
    assert list(foreign_attributes(COMPAT, ast.parse(source), ours))


def test_our_own_private_attributes_and_the_allowed_helpers_pass() -> None:
    ours = names_we_define([ast.parse("self._client = None\ndef _plan(): ...")])
    source = (
        "self._client.chat()\nother._plan()\nself._extend_messages(messages)\n"
        "copy._client = None\nsetattr(copy, '_client', None)"
    )
    assert not list(foreign_attributes(COMPAT, ast.parse(source), ours))


def test_pydantic_state_is_caught_by_attribute_and_by_key() -> None:
    source = 'state["__pydantic_private__"] = None\nmodel.__pydantic_fields_set__'
    assert len(list(pydantic_internals(COMPAT, ast.parse(source)))) == 2
