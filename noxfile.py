"""Developer tasks, each in an environment of its own: ``nox -s tests lint typecheck``."""

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
WEB_SOURCES = ("index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json")


def _web_build_is_stale() -> bool:
    """The dashboard's build is missing or older than any of its sources."""
    if not WEB_BUILD.is_file():
        return True
    built = WEB_BUILD.stat().st_mtime
    sources = [*(WEB / "src").rglob("*"), *(WEB / name for name in WEB_SOURCES)]
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


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
    """The whole suite: unit, conformance, property, contract and browser tests."""
    session.install("-e", ".[dev]")
    build_web(session)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, for style and for the bugs a linter can see."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the library, the example servers, the tests and the benchmarks."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs-material, API reference from the docstrings) in ``site/``,
    built with ``--strict``: any warning (a broken link or anchor) fails it."""
    session.install("mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "ruff>=0.6", "-e", ".")
    # ruff formats the reference's signatures; the variable hides Material's end-of-life banner.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--clean", *session.posargs, env=env)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the reference server (embedded SQLite store, web UI): ``nox -s serve -- --port 8000``."""
    session.install("-e", ".[server]")
    build_web(session)
    session.run("taskstream-server", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmark scenarios (not tests: they print and save figures, never assert a speed),
    JSON results and PNG plots in docs/benchmarks/: ``nox -s bench -- --help``."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The bounded soak run on loopback (1,000 sockets, 5 minutes by default):
    ``nox -s soak -- --duration 30``."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.soak", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The long fuzzing run: Hypothesis over every HTTP body, query, path id and token and
    every Socket.IO payload, and schemathesis over /api/openapi.json, 10,000 cases per
    target (schemathesis's register and login: 1,000, each case hashing a password), random
    cases every run; CI runs 30 derandomized cases per target. ``-- -k socket`` picks targets."""
    session.install("-e", ".[dev]")
    env = {"TASKSTREAM_FUZZ_CASES": os.environ.get("TASKSTREAM_FUZZ_CASES", "10000")}
    session.run("pytest", "-q", "tests/fuzz", *session.posargs, env=env)
