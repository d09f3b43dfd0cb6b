"""Every test the Overview's feature table names exists, so no ✅ points at nothing.

References are written ``path::test`` or ``path::Class::test`` (pytest node ids). A test a
class inherits from langchain-tests' standard suites counts when the class derives from it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from .examples import ROOT

OVERVIEW = ROOT / "docs" / "index.md"
_REFERENCE = re.compile(r"`((?:tests|integration_tests)/[\w/]+\.py)((?:::\w+)*)`")
_STANDARD = {
    "ChatModelIntegrationTests": ChatModelIntegrationTests,
    "ChatModelUnitTests": ChatModelUnitTests,
}


def _references() -> list[tuple[str, tuple[str, ...]]]:
    text = OVERVIEW.read_text(encoding="utf-8")
    found = [(m[1], tuple(filter(None, m[2].split("::")))) for m in _REFERENCE.finditer(text)]
    return sorted(set(found))


def _defines(path: Path, names: tuple[str, ...]) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not names:
        return True
    if len(names) == 1:
        return any(
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.name == names[0]
            for node in tree.body
        )
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == names[0]), None)
    if cls is None:
        return False
    if any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == names[1]
        for n in cls.body
    ):
        return True
    bases = [b.id for b in cls.bases if isinstance(b, ast.Name)]
    return any(base in _STANDARD and hasattr(_STANDARD[base], names[1]) for base in bases)


def test_the_overview_names_tests() -> None:
    assert len(_references()) >= 17


@pytest.mark.parametrize(
    ("path", "names"), _references(), ids=["::".join((p, *n)) for p, n in _references()]
)
def test_each_test_the_overview_names_exists(path: str, names: tuple[str, ...]) -> None:
    file = ROOT / path
    assert file.is_file(), f"{path} does not exist"
    assert _defines(file, names), f"{path} defines no {'::'.join(names)}"
