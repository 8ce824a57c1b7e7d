"""An adapter whose extra is not installed says which one to install.

Each case runs in a fresh interpreter in which the optional module cannot be
imported (``sys.modules[name] = None``, what Python does for a module it has
found missing), so this process's imports stay as they are.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CASES = {
    "open_store(mongodb://)": (
        "pymongo",
        "from taskstream_core import open_store; open_store('mongodb://127.0.0.1:9/db')",
        'pip install "taskstream-core[mongo]"',
    ),
    "open_broker(redis://)": (
        "redis",
        "from taskstream_core import open_broker; open_broker('redis://127.0.0.1:9/0')",
        'pip install "taskstream-core[redis]"',
    ),
    "import RedisBroker": (
        "redis",
        "from taskstream_core.brokers.redis import RedisBroker",
        'pip install "taskstream-core[redis]"',
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_missing_extra_names_the_install_command(case: str) -> None:
    """The error is a ModuleNotFoundError whose message holds the ``pip install`` line."""
    missing, code, install = CASES[case]
    script = (
        f"import sys\nsys.modules[{missing!r}] = None\n"
        f"try:\n    {code}\nexcept ModuleNotFoundError as error:\n"
        "    print(type(error).__name__, error.name, error, sep='|')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    kind, name, message = done.stdout.strip().split("|")
    assert (kind, name) == ("ModuleNotFoundError", missing), done.stdout
    assert install in message, message


def test_the_server_names_its_redis_extra_for_redis_url(tmp_path: Path) -> None:
    """``taskstream-server --redis-url`` without redis exits 2 naming the server's extra."""
    store = f"sqlite:///{tmp_path / 'ts.db'}"
    script = (
        "import sys\nsys.modules['redis'] = None\n"
        "from taskstream_server.cli import main\n"
        f"sys.exit(main(['--store', {store!r}, '--redis-url', 'redis://127.0.0.1:9/0']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert 'pip install "taskstream-server[redis]"' in done.stderr, done.stderr
