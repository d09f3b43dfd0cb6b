"""The public surface: ``cf_mistral.__all__`` is sorted, complete, and presented as cf_mistral.X."""

from __future__ import annotations

import inspect

import cf_mistral
from cf_mistral._version import __version__


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions and dunders.
    if name.isupper():
        return 0, name
    if name[0].isupper():
        return 1, name
    return 2, name


def test_all_is_sorted() -> None:
    assert cf_mistral.__all__ == sorted(cf_mistral.__all__, key=_isort_key)
    assert len(set(cf_mistral.__all__)) == len(cf_mistral.__all__)


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(cf_mistral).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    # The clients load on first attribute access (they import httpx).
    lazy = {"WorkersAIClient", "AsyncWorkersAIClient", "check_http_clients"}
    assert public | lazy | {"__version__"} == set(cf_mistral.__all__)


def test_every_exported_class_and_function_belongs_to_cf_mistral() -> None:
    for name in cf_mistral.__all__:
        value = getattr(cf_mistral, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "cf_mistral", name


def test_version_is_exported() -> None:
    assert cf_mistral.__version__ == __version__
    assert __version__.count(".") >= 2


def test_exported_errors_pickle_by_their_public_name() -> None:
    assert repr(cf_mistral.RateLimitError) == "<class 'cf_mistral.RateLimitError'>"
