"""mkdocs hooks: pages written by other parts of the project join the site once they exist.

``docs/failure-semantics.md`` (the reliability notes) gets a nav entry after the errors page
and a link from it; ``benchmarks/README.md`` (the latest benchmark run) is included in the
performance page. Until a file exists nothing refers to it, so ``mkdocs build --strict`` stays
clean either way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAILURE_SEMANTICS = "failure-semantics.md"
BENCHMARKS = ROOT / "benchmarks" / "README.md"
_RESULTS_MARKER = "<!-- benchmark-results -->"
_FAILURES_MARKER = "<!-- failure-semantics -->"


def _has_failure_semantics(config: Any) -> bool:
    return bool((Path(config["docs_dir"]) / FAILURE_SEMANTICS).is_file())


def on_config(config: Any) -> Any:
    if not _has_failure_semantics(config):
        return config
    nav = config["nav"]
    for index, entry in enumerate(nav):
        if isinstance(entry, dict) and "errors.md" in entry.values():
            nav.insert(index + 1, {"Failure semantics": FAILURE_SEMANTICS})
            break
    return config


def _demote(markdown: str) -> str:
    # The README's own title would compete with the page's; its sections sit under ours.
    body = re.sub(r"\A#\s[^\n]*\n", "", markdown)
    return re.sub(r"^(#+)\s", lambda m: "#" + m[1] + " ", body, flags=re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    source = page.file.src_uri
    if source == "errors.md" and _has_failure_semantics(config):
        link = (
            "Every failure, path by path (call or stream, sync or async, core or adapter), is "
            f"described in [Failure semantics]({FAILURE_SEMANTICS})."
        )
        return markdown.replace(_FAILURES_MARKER, link)
    if source == "performance.md" and BENCHMARKS.is_file():
        results = _demote(BENCHMARKS.read_text(encoding="utf-8"))
        return markdown.replace(_RESULTS_MARKER, results)
    return markdown
