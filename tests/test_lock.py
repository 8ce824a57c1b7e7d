"""The development lock (``constraints.txt``) pins every requirement of both projects.

``pyproject.toml`` (taskstream-core) and ``examples/server/pyproject.toml``
(taskstream-server): their dependencies, every extra and every dependency
group. A dependency added to either without ``nox -s lock`` would be installed
at whatever version the day offers, which is what the lock exists to stop.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = {"core": ROOT / "pyproject.toml", "server": ROOT / "examples/server/pyproject.toml"}


def _load(name: str) -> dict[str, Any]:
    return tomllib.loads(PYPROJECTS[name].read_text())


#: The two projects of this repository, which the lock leaves out.
PROJECTS = {canonicalize_name(_load(name)["project"]["name"]) for name in PYPROJECTS}


def _pins() -> dict[str, Version]:
    """The lock's ``name==version`` lines whose markers hold on this interpreter."""
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def _requirements() -> list[tuple[str, Requirement]]:
    """Every requirement of both projects, their extras and groups, the projects excluded."""
    found: list[tuple[str, Requirement]] = []
    for name in PYPROJECTS:
        pyproject = _load(name)
        lines = [*pyproject["project"]["dependencies"]]
        for extra in pyproject["project"].get("optional-dependencies", {}).values():
            lines.extend(extra)
        for group in pyproject.get("dependency-groups", {}).values():
            lines.extend(group)
        found.extend((name, Requirement(line)) for line in lines)
    return [(name, r) for name, r in found if canonicalize_name(r.name) not in PROJECTS]


@pytest.mark.parametrize(("project", "requirement"), _requirements(), ids=str)
def test_the_lock_pins_each_requirement_within_its_range(
    project: str, requirement: Requirement
) -> None:
    """Each requirement of either project is pinned, inside its range."""
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement} ({project}) is not in constraints.txt: run `nox -s lock`"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt pins {name}=={pins[name]}, outside {requirement} ({project}): "
        "run `nox -s lock`"
    )


def test_the_lock_holds_no_local_project() -> None:
    """No line of the lock names either project or a local path (pip -c refuses them)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        assert " @ " not in line, line
        assert not line.startswith("-"), line
        assert canonicalize_name(Requirement(line).name) not in PROJECTS, line


def test_the_server_requires_this_core() -> None:
    """taskstream-server's range for taskstream-core admits the core of this repository."""
    core = _load("core")["project"]
    (wanted,) = (
        Requirement(line)
        for line in _load("server")["project"]["dependencies"]
        if canonicalize_name(Requirement(line).name) == canonicalize_name(core["name"])
    )
    assert wanted.specifier.contains(core["version"]), (wanted, core["version"])


def test_the_lock_says_how_to_refresh_it() -> None:
    """The lock's header names the command that writes it."""
    header = (ROOT / "constraints.txt").read_text().splitlines()[:3]
    assert any("nox -s lock" in line for line in header), header
