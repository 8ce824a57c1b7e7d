#!/usr/bin/env python3
"""Run a nox session with nothing installed but Python: ``python3 dev.py serve`` or ``test``.

It makes ``.venv`` with nox in it on first use (at the version ``constraints.txt`` pins),
then hands over to nox, which builds each session's own environment under ``.nox/``.
``test``, ``serve`` and ``check`` are shorthands; any other word names a nox session
(``python3 dev.py lock``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "constraints.txt"  # the development lock: nox at the version CI tested
ALIASES = {
    "test": ["-s", "tests"],
    "serve": ["-s", "serve"],
    "check": ["-s", "tests", "lint", "typecheck"],
}


def main(argv: list[str]) -> int:
    bindir = VENV / ("Scripts" if os.name == "nt" else "bin")
    nox = bindir / "nox"
    if not nox.exists():
        print("dev.py: creating .venv with nox (first run only)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
        subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "-q", "-c", str(LOCK), "nox"],
            check=True,
        )
    command, rest = (argv[0], argv[1:]) if argv else ("test", [])
    args = ALIASES.get(command, ["-s", command])
    if rest:
        args = [*args, "--", *rest]
    return subprocess.call([str(nox), "--no-error-on-missing-interpreters", *args], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
