"""Docs build helpers: the docstring rewriter (RST, doctest code → fenced Markdown), hooks."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from .examples import ROOT


def _extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "griffe_code_blocks", ROOT / "docs" / "griffe_code_blocks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REWRITE = _extension()


def test_code_block_directive_becomes_a_fence() -> None:
    text = "Invoke:\n    .. code-block:: python\n\n        model.invoke('hi')\n\nAfter."
    assert REWRITE.fence_code(REWRITE.open_sections(text)) == (
        "**Invoke**\n\n\n```python\nmodel.invoke('hi')\n```\n\n\nAfter."
    )


def test_doctest_session_becomes_pycon_without_flags() -> None:
    text = "Chat:\n\n>>> x = [1]\n>>> x  # doctest: +SKIP\n[1]\n\nMore."
    assert REWRITE.fence_code(text) == "Chat:\n\n```pycon\n>>> x = [1]\n>>> x\n[1]\n```\n\nMore."


def test_literal_block_keeps_its_sentence_and_guesses_shell() -> None:
    text = "Set up::\n\n    pip install cf-mistral\n"
    assert REWRITE.fence_code(text) == "Set up:\n\n```bash\npip install cf-mistral\n```"


def test_unknown_section_of_name_value_lines_becomes_a_list_and_google_ones_stay() -> None:
    text = "Key args:\n    a: first\n    b: second\nArgs:\n    x: kept for griffe"
    assert REWRITE.open_sections(text) == (
        "**Key args**\n\n- a: first\n- b: second\n\nArgs:\n    x: kept for griffe"
    )


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_included_benchmark_readme_loses_its_title_and_sits_under_the_page() -> None:
    readme = "# Benchmarks\n\nIntro.\n\n## Results\n\n| a |\n|---|\n"
    assert _hooks()._demote(readme) == "\nIntro.\n\n### Results\n\n| a |\n|---|\n"


def test_the_performance_page_takes_the_results_and_targets_not_the_method() -> None:
    readme = (
        "# Benchmarks\n\nIntro.\n\n## Method\n\n- pairs\n\n## Latest results\n\n| a |\n"
        "\n## Optimisations\n\nx\n\n## Where the targets stand (this run)\n\nAll met.\n"
    )
    hooks = _hooks()
    shown = hooks._demote("# Benchmarks\n" + hooks._sections(readme, hooks.RESULT_SECTIONS))
    assert (
        shown
        == "### Latest results\n\n| a |\n\n### Where the targets stand (this run)\n\nAll met.\n"
    )
