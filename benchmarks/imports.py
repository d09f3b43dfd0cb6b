"""Scenario 4: import time of each package over its framework's own import.

Each measurement is a fresh interpreter that imports the framework, then the package, timing
both with ``perf_counter``; the figure is the median of the package's increment. Runs are
interleaved across packages, and a first untimed round warms the bytecode caches.
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks._report import Report, Settings
from benchmarks._stats import interleaved, median

__all__ = ["PACKAGES", "run"]

# The framework's own import is the base class an integration subclasses: langchain-core's
# ``language_models`` package is lazy, so importing the package alone would bill the framework's
# real cost (tracers, langsmith) to whichever integration imports BaseChatModel first.
_LANGCHAIN = "from langchain_core.language_models import BaseChatModel"
_LLAMA_INDEX = "from llama_index.core.llms.function_calling import FunctionCallingLLM"

#: contender key -> (framework import statement, package import statement)
PACKAGES: dict[str, tuple[str, str]] = {
    "floor": ("import json", "import httpx"),
    "core": ("import httpx, pydantic", "import cf_mistral"),
    "lc-ours": (_LANGCHAIN, "import langchain_cf_mistral"),
    "lc-cloudflare": (_LANGCHAIN, "import langchain_cloudflare"),
    "lc-mistral": (_LANGCHAIN, "import langchain_mistralai"),
    "lc-openai": (_LANGCHAIN, "import langchain_openai"),
    "li-ours": (_LLAMA_INDEX, "import llama_index_cf_mistral"),
    "li-openai-like": (_LLAMA_INDEX, "import llama_index.llms.openai_like"),
}

_PROBE = """
import json, time
t0 = time.perf_counter()
{framework}
t1 = time.perf_counter()
{package}
t2 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1]))
"""


def _measure(framework: str, package: str) -> tuple[float, float] | None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(framework=framework, package=package)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        return None
    base, extra = json.loads(done.stdout.strip().splitlines()[-1])
    return float(base), float(extra)


def run(report: Report, settings: Settings, keys: list[str]) -> None:
    frameworks: dict[str, list[float]] = {}
    failed: set[str] = set()

    def measure(key: str) -> float | None:
        framework, package = PACKAGES[key]
        found = _measure(framework, package)
        if found is None:
            failed.add(key)
            return None
        frameworks.setdefault(framework, []).append(found[0])
        return found[1]

    samples = interleaved(
        [k for k in PACKAGES if k in keys], measure, rounds=settings.import_reps, warmup=1
    )
    for key, values in samples.items():
        if key in failed or not values:
            report.set(key, "import", "failed")
            continue
        extra = median(values)
        report.set(key, "import", f"+{extra * 1000:.0f}ms", extra)
    shown = "; ".join(
        f"{name.split()[-1]} {median(values) * 1000:.0f}ms"
        for name, values in frameworks.items()
        if name != "import json"
    )
    report.notes.append(
        f"import Δ: median of {settings.import_reps} fresh interpreters, the package's import "
        f"over its framework's (floor row: httpx itself); frameworks: {shown}"
    )
