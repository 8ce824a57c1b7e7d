"""The development lock (``constraints.txt``) pins every requirement ``pyproject.toml`` names.

A dependency added to the project without ``nox -s lock`` would be installed
at whatever version the day offers, which is what the lock exists to stop.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = canonicalize_name("taskstream-core")


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


def _requirements() -> list[Requirement]:
    """Every requirement of the project and its extras, itself excluded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    found = [Requirement(line) for line in lines]
    return [r for r in found if canonicalize_name(r.name) != PROJECT]


@pytest.mark.parametrize("requirement", _requirements(), ids=str)
def test_the_lock_pins_each_requirement_within_its_range(requirement: Requirement) -> None:
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement} is not in constraints.txt: run `python3 dev.py lock`"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt pins {name}=={pins[name]}, outside {requirement}: "
        "run `python3 dev.py lock`"
    )


def test_the_lock_says_how_to_refresh_it() -> None:
    header = (ROOT / "constraints.txt").read_text().splitlines()[:3]
    assert any("nox -s lock" in line for line in header), header
