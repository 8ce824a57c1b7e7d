"""The README's library example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(markdown: str, section: str) -> list[str]:
    """The ```python blocks of the ``## section`` of a Markdown text, in order."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match is not None, f"README.md has no '## {section}' section"
    return re.findall(r"^```python\n(.*?)^```$", match.group(1), re.M | re.S)


def test_the_readme_library_example_runs_as_written(tmp_path: Path) -> None:
    """The one Python block of "Use the library", saved as a file and run in a fresh process
    (in an empty folder), exits 0 and prints what its last comment says it prints."""
    blocks = python_blocks(README.read_text(encoding="utf-8"), "Use the library")
    assert len(blocks) == 1, blocks
    script = tmp_path / "example.py"
    script.write_text(blocks[0], encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    promised = re.findall(r"print\(.*\)  # (.+)$", blocks[0], re.M)
    assert run.stdout.splitlines() == promised
