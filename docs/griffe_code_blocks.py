"""A griffe extension: docstring code written the Python way renders as code in the API reference.

The public classes follow the LangChain / LlamaIndex docstring pattern, whose examples are
reStructuredText ``.. code-block:: python`` directives, ``Example::`` literal blocks or doctest
``>>>`` sessions. Markdown knows none of them: a ``>>>`` line becomes a block quote, and a
``[...]`` in doctest output becomes a broken cross-reference. This rewrites each of them into a
fenced block before mkdocstrings parses the docstring; the docstrings themselves stay as their
frameworks' tooling (help(), IDEs, doctest) expects them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<lang>\w+)?\s*$")
_LITERAL = re.compile(r"^(?P<indent>\s*)(?P<text>.*\S)::\s*$")
_PROMPT = re.compile(r"^(?P<indent>\s*)>>>( |$)")
_DOCTEST_FLAG = re.compile(r"\s*#\s*doctest:\s*[+\-]\w+(,\s*[+\-]\w+)*")
_SECTION = re.compile(r"^(?P<indent>\s*)(?P<title>[A-Z][^:`]*):\s*$")
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`~?(?P<target>[^`]+)`")
_ITEM = re.compile(r"^\S[^:]*:\s")
# Sections griffe's Google parser understands; anything else ("Setup:", "Key init args:")
# would stay indented and render as one code block.
_GOOGLE = {
    "args",
    "arguments",
    "params",
    "parameters",
    "keyword args",
    "keyword arguments",
    "other args",
    "other arguments",
    "other params",
    "other parameters",
    "raises",
    "exceptions",
    "returns",
    "yields",
    "receives",
    "examples",
    "example",
    "attributes",
    "functions",
    "methods",
    "classes",
    "modules",
    "warns",
    "warnings",
    "note",
    "notes",
    "see also",
    "todo",
    "references",
    "deprecated",
}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_block(lines: list[str], start: int, base: int) -> int:
    """The index just past the block indented deeper than ``base`` from ``start`` on."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _fence(body: list[str], indent: str, lang: str) -> list[str]:
    depth = min((_indent(line) for line in body if line.strip()), default=0)
    code = [line[depth:] if line.strip() else "" for line in body]
    return [f"{indent}```{lang}", *(indent + line if line else "" for line in code), f"{indent}```"]


def open_sections(text: str) -> str:
    """Unknown ``Title:`` sections become a bold title and an unindented body.

    A body whose top-level lines all read ``name: text`` becomes a bullet list.
    """
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        section = _SECTION.match(line)
        nxt = next((item for item in lines[index + 1 :] if item.strip()), "")
        base = len(section["indent"]) if section else 0
        if section is None or section["title"].lower() in _GOOGLE or _indent(nxt) <= base:
            out.append(line)
            index += 1
            continue
        end = _indented_block(lines, index + 1, base)
        body = lines[index + 1 : end]
        depth = min(_indent(item) for item in body if item.strip())
        body = [item[depth:] if item.strip() else "" for item in body]
        top = [item for item in body if item and not item[0].isspace()]
        # "a, b,\n    c: text" wraps a name list, so most top-level lines, not all, read "x: y".
        as_list = 2 * sum(bool(_ITEM.match(item)) for item in top) >= len(top) and not any(
            _DIRECTIVE.match(item) or _PROMPT.match(item) for item in body
        )
        out.extend([f"{section['indent']}**{section['title']}**", ""])
        for item in body:
            bullet = "- " if as_list and item and not item[0].isspace() else ""
            out.append(section["indent"] + bullet + item if item else "")
        out.append("")
        index = end
    return "\n".join(out)


def _guess(first_line: str) -> str:
    shell = ("pip ", "export ", "$ ", "uv ", "make ", "cf-mistral ")
    return "bash" if first_line.strip().startswith(shell) else "python"


def fence_code(text: str) -> str:
    """``text`` with directives, ``::`` literal blocks and doctest sessions fenced."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        literal = None if directive else _LITERAL.match(line)
        if directive or literal:
            match = directive or literal
            assert match is not None
            base = len(match["indent"])
            start = index + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            end = _indented_block(lines, start, base)
            if end > start:
                if literal is not None:
                    out.append(f"{match['indent']}{literal['text']}:")
                out.append("")
                lang = (directive["lang"] if directive else None) or _guess(lines[start])
                out.extend(_fence(lines[start:end], match["indent"], lang))
                index = end
                continue
        prompt = _PROMPT.match(line)
        if prompt:
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            session = [_DOCTEST_FLAG.sub("", item) for item in lines[index:end]]
            out.extend(_fence(session, prompt["indent"], "pycon"))
            index = end
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


class FenceDocstringCode(griffe.Extension):
    """Fence the code of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(r"`\g<target>`", obj.docstring.value)
            obj.docstring.value = fence_code(open_sections(text))
