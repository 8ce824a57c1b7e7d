"""Developer tasks, each in an environment of its own: ``nox -s tests lint typecheck``.

Every session installs against ``constraints.txt``, the lock of the development and CI
environments, so a fresh machine installs exactly what was tested. ``nox -s lock`` refreshes
it to the newest releases; ``nox -s tests_latest`` runs the suite on them without touching it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = os.environ.get("TASKSTREAM_NOX_PYTHON") or None

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "examples" / "web"
WEB_BUILD = ROOT / "examples" / "server" / "taskstream_server" / "static" / "app" / "index.html"
LOCK = ROOT / "constraints.txt"
# The lock is resolved for every platform, for the oldest Python the project supports.
LOCK_COMMAND = (
    "uv", "pip", "compile", "pyproject.toml", "--all-extras", "--universal",
    "--python-version", "3.11", "--custom-compile-command", "nox -s lock",
    "--output-file", str(LOCK),
)  # fmt: skip
WEB_SOURCES = ("index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json")


def _web_build_is_stale() -> bool:
    """The dashboard's build is missing or older than any of its sources."""
    if not WEB_BUILD.is_file():
        return True
    built = WEB_BUILD.stat().st_mtime
    sources = [*(WEB / "src").rglob("*"), *(WEB / name for name in WEB_SOURCES)]
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


def install(session: nox.Session, *requirements: str) -> None:
    """``pip install`` *requirements* at the versions ``constraints.txt`` pins."""
    session.install("--constraint", str(LOCK), *requirements)


def build_web(session: nox.Session) -> None:
    """``npm ci`` + ``npm run build`` in examples/web when the built dashboard is missing or
    stale (Node 20 and npm 11 are needed only then)."""
    if not _web_build_is_stale():
        session.log("web dashboard: build is up to date")
        return
    npm = shutil.which("npm")
    if npm is None:
        session.error("the web dashboard needs building and npm is not installed (Node 20, npm 11)")
    installed = WEB / "node_modules" / ".package-lock.json"
    lock = WEB / "package-lock.json"
    with session.chdir(WEB):
        if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
            session.run(npm, "ci", "--no-audit", "--no-fund", external=True)
        session.run(npm, "run", "build", external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, conformance, property, contract and browser tests; then the
    contract suite once more with the server's fast path off (``--no-fast-path``)."""
    install(session, "-e", ".[dev]")
    build_web(session)
    session.run("pytest", *(session.posargs or ["-q"]))
    if not session.posargs:
        session.run("pytest", "-q", "tests/contract", env={"TASKSTREAM_FAST_PATH": "off"})


@nox.session(python=PYTHON)
def tests_latest(session: nox.Session) -> None:
    """The whole suite against the newest releases the version ranges allow, not the lock:
    an upstream change met on purpose (then ``nox -s lock`` to take it)."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[dev]")
    build_web(session)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Refresh ``constraints.txt`` to the newest releases the version ranges allow
    (``nox -s lock -- --upgrade-package redis`` moves one package only)."""
    session.install("uv>=0.5")
    upgrade = (
        [] if any(arg.startswith("--upgrade-package") for arg in session.posargs) else ["--upgrade"]
    )
    session.run(*LOCK_COMMAND, *upgrade, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, for style and for the bugs a linter can see."""
    install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the library, the example servers, the tests and the benchmarks."""
    install(session, "-e", ".[dev]")
    session.run("mypy")


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
    install(session, "-e", ".[server]")
    build_web(session)
    session.run("taskstream-server", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmark scenarios (not tests: they print and save figures, never assert a speed),
    JSON results and PNG plots in docs/benchmarks/: ``nox -s bench -- --help``."""
    install(session, "-e", ".[dev,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The bounded soak run on loopback (1,000 sockets, 5 minutes by default):
    ``nox -s soak -- --duration 30``."""
    install(session, "-e", ".[dev]")
    session.run("python", "-m", "benchmarks.soak", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The long fuzzing run: Hypothesis over every HTTP body, query, path id and token and
    every Socket.IO payload, and schemathesis over /api/openapi.json, 10,000 cases per
    target (schemathesis's register and login: 1,000, each case hashing a password), random
    cases every run; CI runs 30 derandomized cases per target. ``-- -k socket`` picks targets."""
    install(session, "-e", ".[dev]")
    env = {"TASKSTREAM_FUZZ_CASES": os.environ.get("TASKSTREAM_FUZZ_CASES", "10000")}
    session.run("pytest", "-q", "tests/fuzz", *session.posargs, env=env)
