"""argparse types for numeric flags: a bad number is refused on the command line (exit 2, one line),
never passed on to fail later as a traceback or be silently misread (a negative cap, a NaN budget)."""

from __future__ import annotations

import argparse
import math


def non_negative_int(text: str) -> int:
    """A count such as --max-changes: 0 is meaningful (plan nothing), below 0 is not."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give 0 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    # float() accepts "nan" and "inf": neither is a time anyone means.
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds")
    return value


def positive_seconds(text: str) -> float:
    """A time budget: 0 or less would give up before starting."""
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def non_negative_seconds(text: str) -> float:
    """A pause: 0 means none; below 0 is meaningless (time.sleep would raise)."""
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give 0 or more seconds")
    return value
