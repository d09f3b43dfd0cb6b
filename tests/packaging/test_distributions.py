"""The three distributions: their metadata, their sdists, and the adapters without their framework.

The installs themselves (a clean environment per kind of user, package counts, a call answered
by the emulator) are `make installs`, which runs on the wheels these same functions build.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "distributions", ROOT / "scripts" / "distributions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["distributions"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


DISTRIBUTIONS = _load_script()


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    names = {}
    for requirement in requirements:
        name = requirement.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip()
        names[name] = requirement
    return names


def test_the_dev_environment_tests_the_ranges_the_adapters_declare() -> None:
    # The locked environment installs the frameworks through the dev group, not through the
    # adapter distributions: the two must accept the same versions.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = _requirement_names(
        [r for r in pyproject["dependency-groups"]["dev"] if isinstance(r, str)]
    )
    for distribution in DISTRIBUTIONS.adapters():
        for name, requirement in _requirement_names(list(distribution.dependencies)).items():
            assert dev[name] == requirement, distribution.name


def test_the_core_declares_what_it_imports() -> None:
    declared = set(_requirement_names(DISTRIBUTIONS.core_dependencies()))
    assert declared == {"httpx", "httpcore", "h11", "pydantic"}


def test_an_adapter_pins_the_core_at_its_own_version() -> None:
    version = DISTRIBUTIONS.version()
    for distribution in DISTRIBUTIONS.adapters():
        text = DISTRIBUTIONS.adapter_pyproject(distribution, version)
        project = tomllib.loads(text)["project"]
        assert project["version"] == version
        assert project["dependencies"][0] == f"cf-mistral=={version}"
        assert "langchain" not in str(project) or "llama-index" not in str(project)


def test_the_llama_index_distribution_carries_llamahub_metadata() -> None:
    (llama,) = [d for d in DISTRIBUTIONS.adapters() if d.name == "llama-index-llms-cf-mistral"]
    text = DISTRIBUTIONS.adapter_pyproject(llama, DISTRIBUTIONS.version())
    llamahub = tomllib.loads(text)["tool"]["llamahub"]
    assert llamahub["import_path"] == "llama_index.llms.cf_mistral"
    assert llamahub["class_authors"] == {"CloudflareMistral": "cf-mistral developers"}
    # The import path LlamaHub lists really holds the class.
    from llama_index.llms.cf_mistral import CloudflareMistral

    assert CloudflareMistral.class_name() == "CloudflareMistral_LLM"


@pytest.mark.slow
def test_each_sdist_is_complete_and_builds_its_wheel(tmp_path: Path) -> None:
    built = {path.name for path in DISTRIBUTIONS.build(tmp_path)}
    version = DISTRIBUTIONS.version()
    for stem in ("cf_mistral", "langchain_cf_mistral", "llama_index_llms_cf_mistral"):
        assert f"{stem}-{version}.tar.gz" in built
        assert f"{stem}-{version}-py3-none-any.whl" in built
    with tarfile.open(tmp_path / f"llama_index_llms_cf_mistral-{version}.tar.gz") as sdist:
        names = sdist.getnames()
    prefix = f"llama_index_llms_cf_mistral-{version}/"
    assert prefix + "llama_index/llms/cf_mistral/__init__.py" in names
    # Namespace packages shared with llama-index-core: an __init__.py here breaks them.
    assert prefix + "llama_index/__init__.py" not in names
    assert prefix + "llama_index/llms/__init__.py" not in names
    assert not any("langchain" in name for name in names)


@pytest.mark.parametrize(
    ("framework", "adapter", "command"),
    [
        ("langchain_core", "langchain_cf_mistral", "pip install -U langchain-cf-mistral"),
        (
            "llama_index.core",
            "llama_index_cf_mistral",
            "pip install -U llama-index-llms-cf-mistral",
        ),
        (
            "llama_index.core",
            "llama_index.llms.cf_mistral",
            "pip install -U llama-index-llms-cf-mistral",
        ),
    ],
)
def test_an_adapter_without_its_framework_says_what_to_install(
    framework: str, adapter: str, command: str
) -> None:
    code = f"import sys\nsys.modules[{framework!r}] = None\nimport {adapter}\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ")
    assert command in last


def test_an_import_error_that_is_not_the_framework_passes_through_unchanged() -> None:
    from cf_mistral._framework import framework_imports

    with (
        pytest.raises(ModuleNotFoundError) as caught,
        framework_imports("langchain_core", adapter="a", distribution="d"),
    ):
        import cf_mistral_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert caught.value.name == "cf_mistral_no_such_module"
    assert "pip install" not in str(caught.value)


@pytest.mark.parametrize(
    ("missing", "package"),
    [
        ("llama_index", "llama_index.core"),  # the namespace itself is absent
        ("llama_index.core", "llama_index.core"),
        ("llama_index.core.base", "llama_index.core"),
    ],
)
def test_the_framework_missing_at_any_depth_names_the_install(missing: str, package: str) -> None:
    from cf_mistral._framework import framework_imports

    with (
        pytest.raises(ImportError, match="pip install -U llama-index-llms-cf-mistral"),
        framework_imports(package, adapter="a", distribution="llama-index-llms-cf-mistral"),
    ):
        raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)
