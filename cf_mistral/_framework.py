"""The adapters' imports: their framework, or an ImportError that says what to install.

Each adapter ships in a distribution of its own that brings its framework (LangChain's
``langchain-core``, LlamaIndex's ``llama-index-core``). The framework can still be missing: the
adapter's folder copied by hand, an install with ``--no-deps``, the framework uninstalled later.
A bare ``ModuleNotFoundError`` from deep inside the adapter would not say which command fixes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["framework_imports"]


def _within(name: str | None, package: str) -> bool:
    """Whether the module ``name`` that failed to import is ``package``, inside it or above it."""
    if not name:
        return False
    return name == package or name.startswith(package + ".") or package.startswith(name + ".")


@contextlib.contextmanager
def framework_imports(package: str, *, adapter: str, distribution: str) -> Iterator[None]:
    """Run an adapter's imports; a missing ``package`` becomes an ImportError naming the fix.

    Any other ImportError (a module of ours, another dependency) passes through unchanged.
    """
    try:
        yield
    except ImportError as error:
        if not _within(error.name, package):
            raise
        raise ImportError(
            f"{adapter} needs {package}, which could not be imported ({error}). Install the "
            f"adapter's distribution, which brings its framework: pip install -U {distribution}"
        ) from error
