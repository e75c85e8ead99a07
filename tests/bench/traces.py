"""Bitbrains GWA-T-12 Rnd traces (../shared/traces/README.md) as clean per-VM series.

Quirks handled: the `Timestamp [ms]` column holds seconds; duplicate timestamps (20.csv) keep the
first row; rows with zero provisioned cores, CPU capacity or memory capacity are dropped; gaps stay
gaps (each sample stands for the time to the next one, capped at 15 minutes); memory capacity that
changes inside a file (real resizes) is kept per row, and the series' provisioning is its first row's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces" / "bitbrains-rnd" / "rnd" / "2013-8"
MAX_STEP = 900


@dataclass
class Series:
    vm: str
    t: list[int]
    cpu: list[float]  # cores
    mem: list[float]  # bytes
    cores: float  # provisioned at the start
    mem_capacity: float  # bytes, provisioned at the start
    dropped_rows: int = 0
    duplicate_timestamps: int = 0


def load(path: Path) -> Series | None:
    seen: set[int] = set()
    t, cpu, mem = [], [], []
    dropped = dupes = 0
    first = None
    for line in path.read_text().splitlines()[1:]:
        f = [x.strip() for x in line.split(";")]
        if len(f) < 7:
            dropped += 1
            continue
        ts, cores, cap_mhz, use_mhz, mem_cap_kb, mem_kb = int(float(f[0])), float(f[1]), float(f[2]), float(f[3]), float(f[5]), float(f[6])
        if ts in seen:
            dupes += 1
            continue
        seen.add(ts)
        if cores <= 0 or cap_mhz <= 0 or mem_cap_kb <= 0:
            dropped += 1
            continue
        if first is None:
            first = (cores, mem_cap_kb * 1024)
        t.append(ts)
        cpu.append(use_mhz / (cap_mhz / cores))
        mem.append(mem_kb * 1024)
    if first is None or len(t) < 100:
        return None
    order = sorted(range(len(t)), key=t.__getitem__)
    return Series(path.stem, [t[i] for i in order], [cpu[i] for i in order], [mem[i] for i in order],
                  first[0], first[1], dropped, dupes)


def load_all(folder: Path = TRACES) -> tuple[list[Series], list[str]]:
    series, skipped = [], []
    for path in sorted(folder.glob("*.csv"), key=lambda p: int(p.stem)):
        s = load(path)
        if s is None:
            skipped.append(path.stem)
        else:
            series.append(s)
    return series, skipped


def window(s: Series, start: int, end: int) -> tuple[list[float], list[float], list[float], list[int]]:
    """Samples with start ≤ t < end: (cpu, mem, weight seconds, timestamps)."""
    idx = [i for i, ts in enumerate(s.t) if start <= ts < end]
    w = [min(MAX_STEP, (s.t[i + 1] - s.t[i]) if i + 1 < len(s.t) else 300) for i in idx]
    return [s.cpu[i] for i in idx], [s.mem[i] for i in idx], w, [s.t[i] for i in idx]
