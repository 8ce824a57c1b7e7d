"""Developer tasks, each in an environment of its own: ``nox -s tests lint typecheck``."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = os.environ.get("TASKSTREAM_NOX_PYTHON") or None


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, conformance, property, contract and browser tests."""
    session.install("-e", ".[dev]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, for style and for the bugs a linter can see."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the library, the example server and the tests."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the reference server (embedded SQLite store, web UI): ``nox -s serve -- --port 8000``."""
    session.install("-e", ".[server]")
    session.run("taskstream-server", *session.posargs)
