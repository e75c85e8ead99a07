"""Phase timings of one command, for the scale benchmark (tests/bench/scale.py).

With RIGHTSIZER_TIMINGS=1 in the environment, `rightsizer` prints one line to stderr before it exits:
`rightsizer-timings {"snapshot": 0.41, "plan": 0.33, ...}` (seconds per phase, summed over repeats).
Off by default: then ``phase`` costs one dict lookup. Phases never nest, so they add up to the run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator

ENV = "RIGHTSIZER_TIMINGS"
PREFIX = "rightsizer-timings "
_phases: dict[str, float] = {}


def enabled() -> bool:
    return bool(os.environ.get(ENV))


@contextmanager
def phase(name: str) -> Iterator[None]:
    if not enabled():
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        _phases[name] = _phases.get(name, 0.0) + time.perf_counter() - start


def report() -> None:
    """Print the phases (when enabled); called once, as the command ends."""
    if enabled():
        print(PREFIX + json.dumps({k: round(v, 4) for k, v in _phases.items()}), file=sys.stderr)
