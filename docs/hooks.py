"""mkdocs hooks: pages written by other parts of the project join the site once they exist.

``docs/failure-semantics.md`` (the reliability notes) gets a nav entry after the errors page
and a link from it; the results sections of ``benchmarks/README.md`` (the latest run and
where the targets stand; not its method) are included in the performance page. Until a file
exists nothing refers to it, so ``mkdocs build --strict`` stays clean either way.
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
# The README's sections the performance page shows, by the start of their titles.
RESULT_SECTIONS = ("Latest results", "Where the targets stand")


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


def _sections(markdown: str, titles: tuple[str, ...]) -> str:
    """The ``##`` sections of ``markdown`` whose titles start with one of ``titles``, in order."""
    parts = re.split(r"^(?=## )", markdown, flags=re.MULTILINE)
    kept = [part for part in parts if part.startswith(tuple(f"## {t}" for t in titles))]
    return "\n".join(part.rstrip("\n") + "\n" for part in kept)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    source = page.file.src_uri
    if source == "errors.md" and _has_failure_semantics(config):
        link = (
            "Every failure, path by path (call or stream, sync or async, core or adapter), is "
            f"described in [Failure semantics]({FAILURE_SEMANTICS})."
        )
        return markdown.replace(_FAILURES_MARKER, link)
    if source == "performance.md" and BENCHMARKS.is_file():
        readme = BENCHMARKS.read_text(encoding="utf-8")
        results = _demote("# Benchmarks\n" + _sections(readme, RESULT_SECTIONS))
        return markdown.replace(_RESULTS_MARKER, results)
    return markdown
