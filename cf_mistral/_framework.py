"""The adapters' first import: their framework, or an ImportError that says what to install.

Each adapter ships in a distribution of its own that brings its framework (LangChain's
``langchain-core``, LlamaIndex's ``llama-index-core``). The framework can still be missing: the
adapter's folder copied by hand, an install with ``--no-deps``, the framework uninstalled later.
A bare ``ModuleNotFoundError`` from deep inside the adapter would not say which command fixes it.
"""

from __future__ import annotations

import importlib

__all__ = ["require_framework"]


def require_framework(module: str, *, adapter: str, distribution: str) -> None:
    """Import ``module``, or raise an ImportError naming the install command for ``adapter``."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{adapter} needs {module}, which could not be imported ({error}). Install the "
            f"adapter's distribution, which brings its framework: pip install -U {distribution}"
        ) from error
