"""``deploy/``'s files against what they deploy: the Dockerfile installs distributions and
extras that exist, and the compose file sets only variables the server reads.

No container runs here (no Docker engine); these read the files.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import tomllib
from pathlib import Path

from taskstream_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
#: Read by the server besides its options' variables (settings.load_secrets).
SECRET_VARIABLES = {"TASKSTREAM_JWT_SECRET", "TASKSTREAM_ADMIN_INVITE_CODE"}


def _pip_install_targets() -> list[str]:
    """The requirements of the Dockerfile's ``pip install`` (line continuations joined)."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    (command,) = re.findall(r"^RUN pip install (.+)$", text, re.MULTILINE)
    words = shlex.split(command.partition("&&")[0])
    return [word for word in words if not word.startswith("-")]


def test_the_dockerfile_installs_the_server_and_extras_that_exist() -> None:
    """Each ``path[extras]`` is a project of this repository that declares those extras, and
    the server (whose command is the image's entry point) is one of them."""
    names = []
    for target in _pip_install_targets():
        path, _, extras = target.partition("[")
        project = tomllib.loads((ROOT / path / "pyproject.toml").read_text(encoding="utf-8"))
        declared = set(project["project"].get("optional-dependencies", {}))
        assert set(filter(None, extras.rstrip("]").split(","))) <= declared, target
        names.append(project["project"]["name"])
    assert "taskstream-server" in names
    assert '"taskstream-server"' in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def test_the_compose_file_sets_only_variables_the_server_reads() -> None:
    read = {f.metadata["env"] for f in dataclasses.fields(Settings) if f.metadata.get("env")}
    compose = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    set_there = set(re.findall(r"^\s+(TASKSTREAM_\w+):", compose, re.MULTILINE))
    assert set_there
    assert set_there <= read | SECRET_VARIABLES
