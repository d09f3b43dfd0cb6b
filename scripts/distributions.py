"""The three distributions built from this repository, and what each kind of user installs.

=============================  ================================  ===============================
distribution                   packages                          depends on
=============================  ================================  ===============================
``cf-mistral``                 ``cf_mistral`` (+ the emulator)   httpx, httpcore, h11, pydantic
``langchain-cf-mistral``       ``langchain_cf_mistral``          cf-mistral, langchain-core
``llama-index-llms-cf-mistral`` ``llama_index_cf_mistral``,      cf-mistral, llama-index-core
                               ``llama_index.llms.cf_mistral``
=============================  ================================  ===============================

The top-level ``pyproject.toml`` is cf-mistral's own and describes the two adapters under
``[tool.cf-mistral.distributions]``. ``build`` stages each adapter in a folder of its own (its
package folders, ``README.md`` and a ``pyproject.toml`` written from that table), so that each
sdist is complete by itself; ``uv build`` then builds every wheel from its sdist, which proves it.

Commands (run with the project's Python; ``UV`` names the uv binary, by default the Makefile's):

``build DIR``
    sdists and wheels of all three into DIR.
``check-installs DIR``
    for each kind of user (core, LangChain, LlamaIndex), a clean virtual environment with that
    user's wheels from DIR: its package count against the target, the other framework absent,
    a call answered by the emulator, and an adapter whose framework is missing failing with the
    install command.
``matrix lowest|lowest-core|newest VENV [PYTEST ARGS]``
    a virtual environment with the lowest versions the metadata allows (``lowest-direct``), or
    the newest releases, of every dependency of the three distributions and of the test group,
    then the test suite in it. ``lowest-core`` leaves the frameworks out: they need newer
    httpx and pydantic than the core's own floors, which only a core-only install can reach.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
# The uv the Makefile installs, unless UV names another.
UV = os.environ.get("UV") or str(
    ROOT / ".tools" / "bin" / "uv" if (ROOT / ".tools" / "bin" / "uv").exists() else "uv"
)
CORE = "cf-mistral"
# At most this many packages in a core install (httpx's and pydantic's closures, h11, ours).
CORE_TARGET = 13
# An adapter install may add this many packages to its framework's own closure.
ADAPTER_ALLOWANCE = 2


@dataclass(frozen=True)
class Distribution:
    name: str
    packages: tuple[str, ...]
    dependencies: tuple[str, ...]
    description: str
    keywords: tuple[str, ...]
    llamahub: dict[str, object] | None = None


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def version() -> str:
    text = (ROOT / "cf_mistral" / "_version.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', text)
    assert match is not None, "cf_mistral/_version.py has no __version__"
    return match.group(1)


def adapters() -> list[Distribution]:
    """The adapter distributions, as ``[tool.cf-mistral.distributions]`` describes them."""
    tables = _pyproject()["tool"]["cf-mistral"]["distributions"]  # type: ignore[index]
    return [
        Distribution(
            name=name,
            packages=tuple(table["packages"]),
            dependencies=tuple(table["dependencies"]),
            description=table["description"],
            keywords=tuple(table["keywords"]),
            llamahub=table.get("llamahub"),
        )
        for name, table in tables.items()
    ]


def core_dependencies() -> list[str]:
    project = _pyproject()["project"]
    return list(project["dependencies"])  # type: ignore[index]


def _toml_value(value: object) -> str:
    # JSON strings, numbers and booleans are TOML too; arrays and tables are spelt out.
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{key} = {_toml_value(item)}" for key, item in value.items())
        return "{ " + ", ".join(pairs) + " }"
    return json.dumps(value, ensure_ascii=False)


def _toml_table(name: str, table: dict[str, object]) -> str:
    lines = [f"[{name}]"]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append(_toml_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join([*lines, "", *nested])


def adapter_pyproject(distribution: Distribution, core_version: str) -> str:
    """The ``pyproject.toml`` of an adapter's own sdist."""
    core = _pyproject()["project"]
    dependencies = [f"{CORE}=={core_version}", *distribution.dependencies]
    build_requires = _pyproject()["build-system"]["requires"]  # type: ignore[index]
    text = textwrap.dedent(
        f"""\
        [build-system]
        requires = {_toml_value(build_requires)}
        build-backend = "hatchling.build"

        [project]
        name = {_toml_value(distribution.name)}
        version = {_toml_value(core_version)}
        description = {_toml_value(distribution.description)}
        readme = "README.md"
        requires-python = {_toml_value(core["requires-python"])}
        license = {_toml_value(core["license"])}
        authors = {_toml_value(core["authors"])}
        keywords = {_toml_value(list(distribution.keywords))}
        classifiers = {_toml_value(core["classifiers"])}
        dependencies = {_toml_value(dependencies)}

        [tool.hatch.build.targets.wheel]
        packages = {_toml_value(list(distribution.packages))}

        [tool.hatch.build.targets.sdist]
        include = {_toml_value([*distribution.packages, "README.md"])}
        """
    )
    if distribution.llamahub is not None:
        text += "\n" + _toml_table("tool.llamahub", distribution.llamahub)
    return text


def _run(*command: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(
            f"failed ({result.returncode}): {' '.join(command)}\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def _copy_package(source: Path, destination: Path) -> None:
    shutil.copytree(
        source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    )


def build(out: Path) -> list[Path]:
    """Sdists and wheels of the three distributions into ``out``; each wheel from its sdist."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        if old.is_file():
            old.unlink()
    core_version = version()
    _run(UV, "build", "--quiet", "--out-dir", str(out), str(ROOT))
    with tempfile.TemporaryDirectory(prefix="cf-mistral-dists-") as staging:
        for distribution in adapters():
            folder = Path(staging) / distribution.name
            folder.mkdir()
            for package in distribution.packages:
                _copy_package(ROOT / package, folder / package)
            shutil.copy(ROOT / "README.md", folder / "README.md")
            (folder / "pyproject.toml").write_text(adapter_pyproject(distribution, core_version))
            _run(UV, "build", "--quiet", "--out-dir", str(out), str(folder))
    return sorted(out.iterdir())


# -- what each kind of user installs ------------------------------------------------------------


@dataclass(frozen=True)
class UserPath:
    label: str
    distribution: str  # what the user asks pip for
    framework: str | None  # the framework distribution it brings
    absent: tuple[str, ...]  # distributions and modules it must not bring
    call: str  # Python that prints the emulator's answer, through this user's API


_CALL_CORE = """
from cf_mistral import ChatRequest, UserMessage, WorkersAIClient
from cf_mistral.emulator import Emulator
with Emulator() as emulator:
    emulator.script(text="answered from the installed core")
    with WorkersAIClient(account_id=emulator.account_id, api_token=emulator.token,
                         base_url=emulator.base_url) as client:
        print(client.chat(ChatRequest(messages=[UserMessage("hi")])).text)
"""
_CALL_LANGCHAIN = """
from cf_mistral.emulator import Emulator
from langchain_cf_mistral import ChatCloudflareMistral
with Emulator() as emulator:
    emulator.script(text="answered through LangChain")
    model = ChatCloudflareMistral(account_id=emulator.account_id, api_token=emulator.token,
                                  base_url=emulator.base_url)
    print(model.invoke("hi").content)
"""
_CALL_LLAMA_INDEX = """
from cf_mistral.emulator import Emulator
from llama_index.core.llms import ChatMessage
from llama_index.llms.cf_mistral import CloudflareMistral
with Emulator() as emulator:
    emulator.script(text="answered through LlamaIndex")
    llm = CloudflareMistral(account_id=emulator.account_id, api_token=emulator.token,
                            base_url=emulator.base_url)
    print(llm.chat([ChatMessage(role="user", content="hi")]).message.content)
"""

USER_PATHS = (
    UserPath(
        "core",
        CORE,
        None,
        ("langchain-core", "llama-index-core", "langchain_core", "llama_index.core"),
        _CALL_CORE,
    ),
    UserPath(
        "LangChain",
        "langchain-cf-mistral",
        "langchain-core",
        ("llama-index-core", "llama_index.core"),
        _CALL_LANGCHAIN,
    ),
    UserPath(
        "LlamaIndex",
        "llama-index-llms-cf-mistral",
        "llama-index-core",
        ("langchain-core", "langchain_core"),
        _CALL_LLAMA_INDEX,
    ),
)

_INSTALLED = """
import importlib.metadata, importlib.util, json, sys
names = sorted(
    {d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()}
)
def found(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
print(json.dumps({"names": names, "modules": {m: found(m) for m in sys.argv[1:]}}))
"""


def _wheel(out: Path, distribution: str) -> Path:
    stem = distribution.replace("-", "_")
    wheels = list(out.glob(f"{stem}-{version()}-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one wheel of {distribution} {version()} in {out}, found {wheels}")
    return wheels[0]


def _closure(requirement: str, python: Path) -> int:
    """How many packages ``requirement`` installs, resolved for ``python``."""
    with tempfile.NamedTemporaryFile("w", suffix=".in", delete=False) as file:
        file.write(requirement + "\n")
    try:
        compiled = _run(
            UV,
            "pip",
            "compile",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python",
            str(python),
            file.name,
        )
    finally:
        os.unlink(file.name)
    return sum(1 for line in compiled.splitlines() if line and not line.startswith(("#", " ")))


def check_installs(out: Path) -> bool:
    """A clean environment per kind of user; prints one table; ``False`` if any check failed."""
    rows = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="cf-mistral-installs-") as scratch:
        for user in USER_PATHS:
            venv = Path(scratch) / user.label
            _run(UV, "venv", "--quiet", str(venv))
            python = venv / "bin" / "python"
            wheels = {_wheel(out, CORE), _wheel(out, user.distribution)}
            _run(UV, "pip", "install", "--quiet", "--python", str(python), *map(str, wheels))
            report = json.loads(_run(str(python), "-c", _INSTALLED, *user.absent))
            names: list[str] = report["names"]
            count = len(names)
            if user.framework is None:
                target, basis = CORE_TARGET, "core target"
            else:
                framework_version = _run(
                    str(python),
                    "-c",
                    f"import importlib.metadata as m; print(m.version({user.framework!r}))",
                ).strip()
                closure = _closure(f"{user.framework}=={framework_version}", python)
                target = closure + ADAPTER_ALLOWANCE
                basis = f"{user.framework} {framework_version}: {closure} + {ADAPTER_ALLOWANCE}"
            present = [name for name in user.absent if name in names or report["modules"][name]]
            answer = _run(str(python), "-c", user.call).strip()
            missing_framework = _missing_framework_message(python, out, user)
            passed = count <= target and not present and answer.startswith("answered")
            passed = passed and missing_framework.startswith("ImportError")
            ok = ok and passed
            rows.append(
                (
                    user.label,
                    f"{count} <= {target} ({basis})",
                    "absent" if not present else f"PRESENT: {', '.join(present)}",
                    repr(answer),
                    missing_framework,
                    "ok" if passed else "FAILED",
                )
            )
    print("What each kind of user installs (wheels from the build, clean virtual environments):")
    for label, count, other, answer, missing, verdict in rows:
        print(f"  {label:<10} packages {count}")
        print(f"  {'':<10} other framework {other}; call answered {answer}")
        print(f"  {'':<10} without its framework: {missing}")
        print(f"  {'':<10} {verdict}")
    return ok


_IMPORT_WITHOUT = """
import sys
sys.modules[{framework!r}] = None  # as if the framework were not installed
try:
    import {module}
except ImportError as error:
    print("ImportError:", error)
else:
    print("imported without its framework")
"""


def _missing_framework_message(python: Path, out: Path, user: UserPath) -> str:
    """What importing this user's adapter says when its framework is missing."""
    if user.framework is None:
        return "ImportError: n/a (the core needs no framework)"
    module = {
        "langchain-core": "langchain_cf_mistral",
        "llama-index-core": "llama_index_cf_mistral",
    }
    framework_module = {"langchain-core": "langchain_core", "llama-index-core": "llama_index.core"}
    code = _IMPORT_WITHOUT.format(
        framework=framework_module[user.framework], module=module[user.framework]
    )
    return _run(str(python), "-c", code).strip()


# -- the version matrix -------------------------------------------------------------------------


# What the core-only leg leaves out of the test group: the frameworks and their tools.
_NOT_FOR_THE_CORE = re.compile(r"^(langchain|langgraph|llama-index)")


def matrix_requirements(*, core_only: bool = False) -> list[str]:
    """Every direct dependency of the distributions and of the test group."""
    project = _pyproject()
    requirements = list(core_dependencies())
    tests = [
        item
        for item in project["dependency-groups"]["test"]  # type: ignore[index]
        if isinstance(item, str)
    ]
    extras = project["project"]["optional-dependencies"]  # type: ignore[index]
    for group in extras.values():
        requirements += group
    if core_only:
        return requirements + [item for item in tests if not _NOT_FOR_THE_CORE.match(item)]
    for distribution in adapters():
        requirements += distribution.dependencies
    return requirements + tests


def matrix(resolution: str, venv: Path, pytest_args: list[str]) -> int:
    if resolution not in ("lowest", "lowest-core", "newest"):
        sys.exit("matrix takes lowest, lowest-core or newest")
    requirements = venv.with_suffix(".requirements.in")
    if venv.exists():
        shutil.rmtree(venv)
    _run(UV, "venv", "--quiet", str(venv))
    python = venv / "bin" / "python"
    core_only = resolution == "lowest-core"
    requirements.write_text("\n".join(matrix_requirements(core_only=core_only)) + "\n")
    mode = ["--upgrade"] if resolution == "newest" else ["--resolution", "lowest-direct"]
    _run(UV, "pip", "install", "--quiet", "--python", str(python), *mode, "-r", str(requirements))
    _run(UV, "pip", "install", "--quiet", "--python", str(python), "--no-deps", "-e", str(ROOT))
    versions = json.loads(
        _run(
            str(python),
            "-c",
            "import importlib.metadata as m, json, sys\n"
            "def version(name):\n"
            "    try:\n"
            "        return m.version(name)\n"
            "    except m.PackageNotFoundError:\n"
            "        return 'absent'\n"
            "print(json.dumps({n: version(n) for n in sys.argv[1:]}))",
            "httpx",
            "httpcore",
            "h11",
            "pydantic",
            "langchain-core",
            "llama-index-core",
        )
    )
    print(f"{resolution} versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    sys.stdout.flush()
    return subprocess.call([str(python), "-m", "pytest", *pytest_args], cwd=ROOT)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "build":
        for path in build(Path(argv[1])):
            print(f"built {path.name}")
        return 0
    if len(argv) == 2 and argv[0] == "check-installs":
        return 0 if check_installs(Path(argv[1])) else 1
    if len(argv) >= 3 and argv[0] == "matrix":
        return matrix(argv[1], Path(argv[2]), argv[3:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
