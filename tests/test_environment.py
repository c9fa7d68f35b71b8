"""The two ways to install the kit (pyproject.toml with pip, environment.yml with conda) list the same packages
at the same versions, and the CPU build of torch stays pinned."""

import ast
import re
import tomllib

import yaml

from helpers.paths import REPO_ROOT

# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _pyproject_pins():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for spec in specs:
        name, version = spec.split("==")
        pins[name.lower()] = version
    return pins


def _conda_pins():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            for spec in dep["pip"]:
                if "==" in spec:
                    name, version = spec.split("==")
                    pins[name.lower()] = version
            continue
        name, version = (dep.split("=") + [""])[:2]
        name = CONDA_TO_PYPI.get(name.lower(), name.lower())
        if name not in NOT_PACKAGES:
            pins[name] = version
    return pins


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.]*", spec), f"not an exact pin: {spec}"


def test_torch_is_pinned_to_the_cpu_wheel_version():
    assert _pyproject_pins()["torch"] == "2.13.0"


def test_environment_yml_matches_pyproject():
    assert _conda_pins() == _pyproject_pins()


def test_environment_yml_installs_the_kit_itself():
    text = (REPO_ROOT / "environment.yml").read_text()
    assert "- -e ." in text


# import names that differ from the distribution's name on PyPI
IMPORT_TO_PYPI = {"PIL": "pillow", "skimage": "scikit-image", "yaml": "pyyaml"}


def _third_party_imports(folders=("helpers", "tools", "benchmarks")):
    import ast
    import sys

    names = set()
    for folder in folders:
        for path in (REPO_ROOT / folder).rglob("*.py"):  # sub-packages too (helpers/data/)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("helpers", "tools", "benchmarks")}


def test_every_third_party_import_is_a_pinned_dependency():
    """A package the kit imports but does not declare works here only by luck (another package pulled it in)."""
    pins = _pyproject_pins()
    missing = sorted(n for n in _third_party_imports() if IMPORT_TO_PYPI.get(n, n).lower() not in pins)
    assert not missing, f"imported but not in pyproject.toml: {missing}"


def test_every_package_of_the_kit_is_installed():
    """pyproject lists packages by name: a new sub-package left out would be missing from a (non-editable) install."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {init.parent.relative_to(REPO_ROOT).as_posix().replace("/", ".")
             for top in ("helpers", "tools") for init in (REPO_ROOT / top).rglob("__init__.py")}
    assert found == listed, f"packages on disk {sorted(found)}, in pyproject.toml {sorted(listed)}"


def test_helpers_never_imports_the_tools():
    """The house's one-way rule: tools/ calls down into helpers/; a student's `import helpers` never pulls in the
    instructors' commands (papermill runners, nbgrader, Dask)."""
    offenders = []
    for path in sorted((REPO_ROOT / "helpers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.relative_to(REPO_ROOT)}: imports {n}" for n in names if n.split(".")[0] == "tools"]
    assert not offenders, "\n".join(offenders)
