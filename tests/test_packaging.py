"""environment.yml and pyproject.toml list the same dependencies with the same version bounds.

Every dependency of the project and of every extra but ``lab`` (installed on demand by ``make
lab``) must be in the conda environment, and the environment must hold nothing pyproject.toml
does not declare (besides Python, pip and the project itself). Conda and pip names are the same
for every package used here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL_IN_ENVIRONMENT = {"lab"}  # extras the environment may, but need not, hold


def _pyproject() -> tuple[dict[str, SpecifierSet], dict[str, SpecifierSet]]:
    """(required: name → specifiers of the dependencies and every extra but lab, optional: lab)"""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required: dict[str, SpecifierSet] = {}
    optional: dict[str, SpecifierSet] = {}
    groups = {"": project["dependencies"], **project.get("optional-dependencies", {})}
    for extra, requirements in groups.items():
        target = optional if extra in OPTIONAL_IN_ENVIRONMENT else required
        for text in requirements:
            requirement = Requirement(text)
            if requirement.name == "gclib":
                continue  # an extra made of other extras
            target[canonicalize_name(requirement.name)] = requirement.specifier
    return required, optional


def _environment() -> dict[str, SpecifierSet]:
    """name → specifiers of the conda and pip dependencies of environment.yml."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    entries: list[str] = []
    for item in environment["dependencies"]:
        if isinstance(item, dict):
            entries.extend(item.get("pip", []))
        else:
            entries.append(str(item))
    found: dict[str, SpecifierSet] = {}
    for entry in entries:
        entry = entry.strip()
        if entry.startswith("-e") or entry in (".", "pip"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", entry)
        assert match, f"unreadable entry {entry!r} in environment.yml"
        name, spec = match.groups()
        if canonicalize_name(name) == "python":
            continue
        spec = re.sub(r"(?<![<>=!~])=(?!=)", "==", spec)  # conda's "=1.2" pins like pip's "==1.2"
        found[canonicalize_name(name)] = SpecifierSet(spec)
    return found


def test_every_declared_dependency_is_in_the_environment_with_the_same_bounds():
    required, _ = _pyproject()
    environment = _environment()
    missing = sorted(set(required) - set(environment))
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    different = {
        name: (str(spec), str(environment[name]))
        for name, spec in required.items()
        if spec != environment[name]
    }
    assert not different, f"version bounds differ (pyproject, environment): {different}"


def test_the_environment_holds_nothing_undeclared():
    required, optional = _pyproject()
    extra = sorted(set(_environment()) - set(required) - set(optional))
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"


def test_the_dask_extra_is_declared_and_installed_by_make():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {Requirement(text).name for text in project["optional-dependencies"]["dask"]}
    assert names == {"distributed", "dask"}
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[test,book,dask]'" in makefile  # make test and make book run the Dask tests
