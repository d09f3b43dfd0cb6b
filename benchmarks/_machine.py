"""The machine and the package versions a table was measured with."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

__all__ = ["describe"]

_PACKAGES = (
    "cf-mistral",
    "httpx",
    "httpcore",
    "httpx-sse",
    "pydantic",
    "langchain-core",
    "llama-index-core",
    "langchain-cloudflare",
    "langchain-openai",
    "openai",
    "langchain-mistralai",
    "llama-index-llms-openai-like",
    "llama-index-llms-openai",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> str:
    cores = os.cpu_count()
    lines = [
        f"Machine: {cores} CPU(s) (nproc), {_cpu_model()}, {platform.system()} "
        f"{platform.release()}",
        f"Python {sys.version.split()[0]} ({platform.python_implementation()})",
        "Versions: " + ", ".join(f"{name} {_version(name)}" for name in _PACKAGES),
    ]
    return "\n".join(lines)
