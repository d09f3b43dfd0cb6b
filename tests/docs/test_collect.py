"""The example collector finds exactly the blocks a reader sees as Python, with their markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from .examples import collect_examples


def _collect(tmp_path: Path, text: str) -> list[tuple[int, str, str | None, str | None]]:
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text(text, encoding="utf-8")
    return [
        (example.line, example.code, example.skip, example.requires)
        for example in collect_examples(page, root=tmp_path)
    ]


def test_only_python_fences_are_examples(tmp_path: Path) -> None:
    text = "# T\n\n```bash\npip install x\n```\n\n```python\nx = 1\n```\n\n```pycon\n>>> 1\n```\n"
    assert _collect(tmp_path, text) == [(8, "x = 1\n", None, None)]


def test_blocks_in_tabs_and_admonitions_are_dedented(tmp_path: Path) -> None:
    text = '=== "Sync"\n\n    ```py title="a.py"\n    if True:\n        y = 2\n    ```\n'
    assert _collect(tmp_path, text) == [(4, "if True:\n    y = 2\n", None, None)]


def test_a_longer_fence_can_hold_a_shorter_one(tmp_path: Path) -> None:
    text = "````python\ns = '''\n```\n'''\n````\n"
    assert _collect(tmp_path, text) == [(2, "s = '''\n```\n'''\n", None, None)]


def test_markers_skip_or_require(tmp_path: Path) -> None:
    text = (
        "<!-- example: skip needs a GPU -->\n```python\na = 1\n```\n\n"
        "<!-- example: requires some_module -->\n\n```python\nb = 2\n```\n"
    )
    assert _collect(tmp_path, text) == [
        (3, "a = 1\n", "needs a GPU", None),
        (9, "b = 2\n", None, "some_module"),
    ]


def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="never closed"):
        _collect(tmp_path, "```python\nx = 1\n")
