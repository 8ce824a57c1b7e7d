"""How many cases each fuzz target runs, and the tally the run prints at its end.

``TASKSTREAM_FUZZ_CASES`` sets Hypothesis's ``max_examples`` for every
target. Unset (the default suite in CI), each target runs a few dozen cases
*derandomized*: the same cases every run, so CI never turns red on a case no
commit introduced, and the directory stays well inside its time budget. Set
(``nox -s fuzz`` sets 10,000), the cases are random and new every run, and a
failure Hypothesis finds is kept in its example database (``.hypothesis/``) to
be replayed first next time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Final

from hypothesis import HealthCheck, settings

__all__ = ["CASES", "FUZZ", "TALLY", "Tally", "counted"]

_DEFAULT_CASES: Final = 30
_GIVEN: Final = os.environ.get("TASKSTREAM_FUZZ_CASES")
#: Cases per target.
CASES: Final = int(_GIVEN) if _GIVEN else _DEFAULT_CASES

#: The Hypothesis settings of every fuzz target. No deadline: the machine is shared, and a
#: slow answer is not what these tests look for (a hang still fails, by a client timeout).
FUZZ: Final = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=_GIVEN is None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@dataclass
class Tally:
    """Cases one target ran (shrinking included) and the time from its first to its last."""

    cases: int = 0
    first: float = 0.0
    last: float = 0.0

    @property
    def seconds(self) -> float:
        return self.last - self.first


#: target name -> its tally, printed by the conftest at the end of the session.
TALLY: Final[dict[str, Tally]] = {}


def counted(target: str) -> None:
    """Note one case of ``target``."""
    now = time.monotonic()
    tally = TALLY.setdefault(target, Tally(first=now))
    tally.cases += 1
    tally.last = now
