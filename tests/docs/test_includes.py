"""File includes in the docs survive ``ruff format`` and fail the build when not expanded.

``ruff format`` formats the Python blocks of Markdown files; an inline include line
(``--8<-- "a.py"``) is a Python expression to it, which it once rewrote as
``--8 < --"a.py"``. The pages use snippets' block form, which is not Python; and the docs
build's hook (``docs/hooks/includes.py``) stops on any include left as text.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
#: An include marker, as written (``--8<--``) or as a formatter spaced it (``--8 < --``).
MARKER = re.compile(r"-+\s*8\s*<\s*-+")


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("includes_hook", ROOT / "docs/hooks/includes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ruff_diff(*paths: Path) -> str:
    """What ``ruff format`` would change in ``paths``, with the project's settings."""
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--diff", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    return run.stdout


def test_ruff_format_leaves_every_include_line_of_the_docs_as_written() -> None:
    """Formatting the docs and the README changes no line that holds an include."""
    touched = [
        line
        for line in _ruff_diff(ROOT / "docs", ROOT / "README.md").splitlines()
        if line.startswith("-") and not line.startswith("---") and MARKER.search(line)
    ]
    assert touched == []


def test_an_inline_include_is_what_ruff_rewrites(tmp_path: Path) -> None:
    """The check above can fail: ruff does rewrite an inline include in a Python block, and
    leaves the block form alone."""
    page = tmp_path / "page.md"
    inline, block = '--8<-- "examples/a.py"', "--8<--\nexamples/a.py\n--8<--"
    page.write_text(f"# A\n\n```python\n{inline}\n```\n\n```python\n{block}\n```\n")
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    formatted = page.read_text()
    assert inline not in formatted
    assert f"```python\n{block}\n```" in formatted


def test_the_build_hook_finds_an_include_left_as_text() -> None:
    """The hook sees an include marker through the highlighter's markup and HTML escapes, in
    either spelling, and nothing in a page whose include was expanded."""
    hook = _hook()
    mangled = (
        '<pre><code><span class="o">--</span><span class="mi">8</span> <span class="o">&lt;</span>'
        ' <span class="o">--</span><span class="s2">&quot;examples/a.py&quot;</span></code></pre>'
    )
    verbatim = "<p>--8&lt;-- &quot;examples/a.py&quot;</p>"
    expanded = '<pre><code><span class="kn">import</span> <span class="nn">asyncio</span>\n'
    expanded += (
        '<span class="n">x</span> <span class="o">=</span> <span class="mi">8</span></code></pre>'
    )
    assert hook.unexpanded_includes(mangled) == ['--8 < --"examples/a.py"']
    assert hook.unexpanded_includes(verbatim) == ['--8<-- "examples/a.py"']
    assert hook.unexpanded_includes(expanded) == []
