"""Usage traces in the Bitbrains GWA-T-12 format (../shared/traces/README.md) as clean per-VM series.

Any directory of files in that format works (`python -m tests.bench quality --traces DIR`): one
`<id>.csv` per VM, `;`-separated, columns as the README lists them.

Quirks handled: the `Timestamp [ms]` column holds seconds; duplicate timestamps (20.csv) keep the
first row; rows with zero provisioned cores, CPU capacity or memory capacity are dropped; gaps stay
gaps (each sample stands for the time to the next one, capped at 15 minutes); provisioning that
changes inside a file (real resizes) is kept per row, so a protocol can read the size a VM had at
the end of its training window.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_AUGUST = Path("shared") / "traces" / "bitbrains-rnd" / "rnd" / "2013-8"
# ../shared next to the checkout (a worktree sits one level deeper, so look up the parents)
TRACES = next((p / _AUGUST for p in Path(__file__).resolve().parents[2:] if (p / _AUGUST).is_dir()),
              Path(__file__).resolve().parents[3] / _AUGUST)
MAX_STEP = 900
STEP = 300  # the traces' sampling step: coverage = samples × step, as the bot's count_over_time


@dataclass
class Series:
    vm: str
    t: np.ndarray  # int seconds, sorted
    cpu: np.ndarray  # cores used
    mem: np.ndarray  # bytes used
    cores: np.ndarray  # cores provisioned, per row
    mem_cap: np.ndarray  # bytes provisioned, per row
    dropped_rows: int = 0
    duplicate_timestamps: int = 0

    @property
    def mem_capacity(self) -> float:
        """Bytes provisioned at the first row."""
        return float(self.mem_cap[0])

    def provisioned_at(self, ts: int) -> tuple[float, float]:
        """(cores, bytes) of the last row before ts: the size at the end of a training window ending at ts."""
        i = max(0, bisect_left(self.t, ts) - 1)
        return float(self.cores[i]), float(self.mem_cap[i])

    def index(self, start: int, end: int) -> slice:
        return slice(bisect_left(self.t, start), bisect_left(self.t, end))


COLUMNS = ("Timestamp [ms]", "CPU cores", "CPU capacity provisioned [MHZ]", "CPU usage [MHZ]", "CPU usage [%]",
           "Memory capacity provisioned [KB]", "Memory usage [KB]")


class TraceError(ValueError):
    """A trace file that is not in the format: the message names the file, line and column."""


def _number(path: Path, lineno: int, fields: list[str], i: int) -> float:
    try:
        value = float(fields[i])
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise TraceError(f"{path}:{lineno}: {COLUMNS[i]}: not a number: {fields[i][:40]!r}")
    return value


def load(path: Path) -> Series | None:
    seen: set[int] = set()
    rows: list[tuple[int, float, float, float, float]] = []
    dropped = dupes = 0
    for lineno, line in enumerate(path.read_text().splitlines()[1:], start=2):
        f = [x.strip() for x in line.split(";")]
        if len(f) < 7:
            dropped += 1
            continue
        ts, cores, cap_mhz, use_mhz, mem_cap_kb, mem_kb = (_number(path, lineno, f, i) for i in (0, 1, 2, 3, 5, 6))
        ts = int(ts)
        if ts in seen:
            dupes += 1
            continue
        seen.add(ts)
        if cores <= 0 or cap_mhz <= 0 or mem_cap_kb <= 0:
            dropped += 1
            continue
        rows.append((ts, use_mhz / (cap_mhz / cores), mem_kb * 1024, cores, mem_cap_kb * 1024))
    if len(rows) < 100:
        return None
    rows.sort()
    a = np.array(rows, dtype=float)
    return Series(path.stem, a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3], a[:, 4], dropped, dupes)


def _order(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 62, path.stem)


def load_all(folder: Path = TRACES) -> tuple[list[Series], list[str]]:
    """Every `*.csv` in folder (or below it), ordered by numeric id; files without usable rows are listed as skipped."""
    paths = sorted(folder.glob("*.csv")) or sorted(folder.rglob("*.csv"))
    series, skipped = [], []
    for path in sorted(paths, key=_order):
        s = load(path)
        if s is None:
            skipped.append(path.stem)
        else:
            series.append(s)
    return series, skipped


def weights(s: Series, sl: slice) -> np.ndarray:
    """Seconds each sample stands for: the time to the next one, capped at MAX_STEP (a gap stays a gap)."""
    t = s.t[sl.start: sl.stop + 1]
    w = np.diff(t).astype(float)
    if len(w) < sl.stop - sl.start:
        w = np.append(w, STEP)
    return np.minimum(w[: sl.stop - sl.start], MAX_STEP)
