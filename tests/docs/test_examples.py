"""Every fenced Python example of docs/ and README.md runs against the emulator.

One test per block (id ``file:line``). The blocks of a page share one namespace and run in
page order; when a worker gets a block whose predecessors ran elsewhere (pytest-xdist), it
replays them first, from a fresh namespace and a reset emulator, so each block sees exactly
the state a reader would. The environment points the examples at the emulator through the
same variables real code uses (``CLOUDFLARE_ACCOUNT_ID``, ``CLOUDFLARE_API_TOKEN``,
``CLOUDFLARE_BASE_URL``), so the examples read like real-API code. Markers that opt a block
out are described in :mod:`tests.docs.examples`.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from typing import Any

import pytest

from cf_mistral.emulator import Emulator

from .examples import ROOT, Example, PageRun, collect_examples, find_sources

PAGES: dict[str, list[Example]] = {
    source.relative_to(ROOT).as_posix(): collect_examples(source) for source in find_sources()
}
EXAMPLES = [example for examples in PAGES.values() for example in examples]
_RUNS: dict[str, PageRun] = {}


def _unavailable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return True
    return False


def _llama_settings() -> Any:
    # LlamaIndex keeps Settings.llm & co. in a process-wide object; a page that sets them
    # must not leak them into other tests, but its own later blocks must see them.
    module = sys.modules.get("llama_index.core.settings")
    return None if module is None else module.Settings


def _swap_globals(state: dict[str, Any]) -> dict[str, Any]:
    """Install ``state`` (a page's saved globals) and return what was there before."""
    settings = _llama_settings()
    if settings is None:
        return {}
    before = dict(vars(settings))
    defaults = {f.name: None for f in dataclasses.fields(settings)}
    vars(settings).update({**defaults, **state.get("llama_index", {})})
    # Settings.tokenizer is kept outside Settings, in llama_index.core's module global.
    core = sys.modules["llama_index.core"]
    tokenizer_before = core.global_tokenizer
    core.global_tokenizer = state.get("llama_index_tokenizer")
    return {"llama_index": before, "llama_index_tokenizer": tokenizer_before}


def _page_run(example: Example, emulator: Emulator) -> PageRun:
    """The page's namespace with every block before ``example`` run, replaying if needed."""
    examples = PAGES[example.path]
    position = examples.index(example)
    run = _RUNS.get(example.path)
    if run is not None and run.token is emulator and run.done == position and not run.failed_at:
        return run
    emulator.reset()
    _swap_globals({})  # a replay starts from LlamaIndex's defaults too
    run = PageRun.fresh(example.path, emulator)
    _RUNS[example.path] = run
    for earlier in examples[:position]:
        if earlier.skip or (earlier.requires and _unavailable(earlier.requires)):
            run.done += 1
            continue
        try:
            run.run(earlier)
        except BaseException as error:
            run.failed_at = earlier.id
            pytest.fail(
                f"an earlier example of this page failed, so this one cannot run: "
                f"{earlier.id}: {type(error).__name__}: {error}"
            )
        run.done += 1
    return run


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_example_runs(
    example: Example,
    docs_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if example.skip:
        pytest.skip(example.skip)
    if example.requires and _unavailable(example.requires):
        pytest.skip(f"{example.requires} is not importable yet")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", docs_emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", docs_emulator.token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", docs_emulator.base_url)
    # Examples may write files (documents for a RAG index): each page gets its own folder.
    workdir = tmp_path_factory.getbasetemp() / "docs-examples" / example.path.replace("/", "_")
    workdir.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(workdir)

    run = _RUNS.get(example.path)
    saved = _swap_globals(run.globals_state if run is not None else {})
    try:
        run = _page_run(example, docs_emulator)
        try:
            run.run(example)
        except BaseException:
            run.failed_at = example.id
            raise
        finally:
            run.done += 1
    finally:
        if run is not None:
            run.globals_state = _swap_globals(saved)
