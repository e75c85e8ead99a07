"""Prometheus-style durations: 14d, 5m, 1h30m."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
MAX_SECONDS = 10 * 31536000  # ten years: no metrics backend keeps more, and bigger numbers are typos


def parse_duration(text: str) -> int:
    """Whole seconds in a duration string; raises ValueError on anything else."""
    s = str(text).strip()
    if len(s) > 64 or not re.fullmatch(DURATION_PATTERN, s):
        raise ValueError(f"{str(text)[:64]!r} is not a duration like 14d, 6h or 90m")
    seconds = int(sum(int(n) * _UNITS[u] for n, u in _PART.findall(s)))
    if seconds > MAX_SECONDS:
        raise ValueError(f"{s!r} is longer than ten years")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def human_duration(seconds: float) -> str:
    days = seconds / 86400
    if days >= 1:
        return f"{days:.1f} days".replace(".0 days", " days")
    return f"{seconds / 3600:.1f} hours"
