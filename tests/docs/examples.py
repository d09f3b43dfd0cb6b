"""Find the fenced Python examples of the documentation and run them like a reader would.

Every fenced block whose language is ``python`` (or ``py``) in ``docs/**/*.md`` and
``README.md`` is an example. The blocks of one page run in order in one shared module
namespace, so a later block can use what an earlier one defined, exactly as a reader who
pastes them one after the other. Other fence languages (``bash``, ``text``, ``pycon``...) are
never run.

A block opts out only with a marker on the line just before its fence, an HTML comment
that the rendered page does not show:

* ``<!-- example: skip REASON -->`` never runs it; the test is skipped with REASON. Use it
  for code that cannot run offline at all, never to hide a failure.
* ``<!-- example: requires MODULE -->`` skips it, naming MODULE, only while ``import MODULE``
  fails (a package that has not been installed yet); once it imports, the block runs.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Example", "PageRun", "collect_examples", "find_sources"]

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<verb>skip|requires)\s+(?P<arg>.*?)\s*-->\s*$")
_PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class Example:
    """One fenced Python block: where it is, its code, and how it opts out (if it does)."""

    path: str  # relative to the repository root, with "/" separators
    line: int  # 1-based line of the first line of code
    code: str
    skip: str | None = None
    requires: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def find_sources(root: Path = ROOT) -> list[Path]:
    """The Markdown files whose examples run: every page under docs/, then the README."""
    sources = sorted((root / "docs").rglob("*.md"))
    readme = root / "README.md"
    if readme.is_file():
        sources.append(readme)
    return sources


def _language(info: str) -> str:
    # "python title="x.py" hl_lines="2"" and "{.python}" both name python first.
    word = info.strip().lstrip("{").lstrip(".").split(maxsplit=1)
    return word[0].lower().rstrip("}") if word else ""


def collect_examples(path: Path, root: Path = ROOT) -> list[Example]:
    """The Python examples of one Markdown file, in page order."""
    relative = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = _language(opening["info"])
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            body.append(lines[end])
            end += 1
        else:
            raise ValueError(f"{relative}:{index + 1}: a code fence is never closed")
        if language in _PYTHON:
            marker = _marker_before(lines, index)
            examples.append(
                Example(
                    path=relative,
                    line=index + 2,
                    code="\n".join(_dedent(line, indent) for line in body) + "\n",
                    skip=marker[1] if marker and marker[0] == "skip" else None,
                    requires=marker[1] if marker and marker[0] == "requires" else None,
                )
            )
        index = end + 1
    return examples


def _dedent(line: str, indent: str) -> str:
    # Blocks nested in admonitions or content tabs carry the fence's indentation.
    return line[len(indent) :] if line.startswith(indent) else line.lstrip()


def _marker_before(lines: list[str], fence_index: int) -> tuple[str, str] | None:
    previous = fence_index - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    if previous < 0:
        return None
    found = _MARKER.match(lines[previous])
    if found is None:
        return None
    if not found["arg"]:
        raise ValueError(f"line {previous + 1}: an example marker needs a reason or a module")
    return found["verb"], found["arg"]


@dataclass
class PageRun:
    """The shared state of one page's examples: a module namespace and how far it got."""

    path: str
    token: object  # identifies the emulator run the namespace was built against
    module: types.ModuleType
    done: int = 0
    failed_at: str | None = None
    globals_state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fresh(cls, path: str, token: object) -> PageRun:
        slug = re.sub(r"\W", "_", path)
        module = types.ModuleType(f"docs_example_{slug}")
        # A real module in sys.modules, so pydantic, typing.get_type_hints and pickle can
        # resolve the classes an example defines.
        sys.modules[module.__name__] = module
        return cls(path=path, token=token, module=module)

    def run(self, example: Example) -> None:
        # Pad so that tracebacks point at the Markdown file's own line numbers.
        source = "\n" * (example.line - 1) + example.code
        code = compile(source, str(ROOT / example.path), "exec")
        exec(code, self.module.__dict__)
