"""Every estimator behind one protocol: (learning samples, current resources, history) → ResourceSpec.

Ours go through bot.engine.recommend; the anchors are reimplementations of their documented defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

from bot.engine.recommend import recommend
from bot.model import Container, Percentiles, Resources, ResourceSpec, Usage
from bot.policy import load_preset


@dataclass
class Learn:
    cpu: Sequence[float]  # cores
    mem: Sequence[float]  # bytes
    t: Sequence[int]
    coverage_seconds: float
    current: ResourceSpec
    oom_kills: int = 0  # in the previous replay week


def quantile(values: Sequence[float], phi: float) -> float:
    v = sorted(values)
    if not v:
        return 0.0
    rank = phi * (len(v) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)


def hourly(values: Sequence[float], t: Sequence[int], phi: float) -> list[float]:
    buckets: list[list[float]] = [[] for _ in range(24)]
    for v, ts in zip(values, t):
        buckets[(ts // 3600) % 24].append(v)
    return [quantile(b, phi) for b in buckets if b]


class Estimator(Protocol):
    name: str

    def __call__(self, learn: Learn, window_seconds: int) -> ResourceSpec: ...


def _percentiles(values: Sequence[float]) -> Percentiles:
    return Percentiles(*(quantile(values, p) for p in (0.5, 0.9, 0.95, 0.99)), max(values) if values else 0.0)


@dataclass
class Preset:
    preset: str

    @property
    def name(self) -> str:
        return self.preset

    def __call__(self, learn: Learn, window_seconds: int) -> ResourceSpec:
        c = Container(
            "app", learn.current,
            Usage(_percentiles(learn.cpu), _percentiles(learn.mem),
                  tuple(hourly(learn.cpu, learn.t, 0.95)) or None, tuple(hourly(learn.mem, learn.t, 0.95)) or None),
            coverage_seconds=learn.coverage_seconds, restarts=learn.oom_kills, oom_kills=learn.oom_kills,
        )
        return recommend(c, load_preset(self.preset), window_seconds).proposed


class KrrSimple:
    """KRR `simple`: CPU request = p95, no CPU limit; memory request = limit = max × 1.15."""

    name = "krr-simple"

    def __call__(self, learn: Learn, window_seconds: int) -> ResourceSpec:
        mem = max(learn.mem) * 1.15
        return ResourceSpec(Resources(math.ceil(quantile(learn.cpu, 0.95) * 1000), math.ceil(mem)), Resources(None, math.ceil(mem)))


class VpaTarget:
    """The VPA recommender's target: CPU = p90 of a usage histogram with exponentially decaying sample
    weights (24 h half-life), memory = p90 of daily peaks over the last 8 days; both × 1.15 safety
    margin; applied as requests = limits (VPA keeps the limit/request ratio, here 1: Guaranteed)."""

    name = "vpa"

    def __call__(self, learn: Learn, window_seconds: int) -> ResourceSpec:
        end = max(learn.t)
        weights = [0.5 ** ((end - ts) / 86400) for ts in learn.t]
        pairs = sorted(zip(learn.cpu, weights))
        total, acc, cpu = sum(weights), 0.0, pairs[-1][0]
        for v, w in pairs:
            acc += w
            if acc >= 0.9 * total:
                cpu = v
                break
        peaks: dict[int, float] = {}
        for v, ts in zip(learn.mem, learn.t):
            if ts >= end - 8 * 86400:
                day = ts // 86400
                peaks[day] = max(peaks.get(day, 0.0), v)
        mem = quantile(list(peaks.values()), 0.9)
        c, m = math.ceil(cpu * 1.15 * 1000), math.ceil(mem * 1.15)
        return ResourceSpec(Resources(max(c, 10), max(m, 2**20)), Resources(max(c, 10), max(m, 2**20)))


class AttuneDefault:
    """Attune's default chain (seed 004): the max over 24 hourly buckets of p95 CPU × 1.2 and p99 memory
    × 1.3; burst: × 1.2 more when the max is over 2× the chosen percentile; confidence: widened by up to
    50% while data covers less than 7 days. Requests only (limits left as they are)."""

    name = "attune"

    def __call__(self, learn: Learn, window_seconds: int) -> ResourceSpec:
        conf = 1 + 0.5 * max(0.0, 1 - learn.coverage_seconds / (7 * 86400))
        cpu = max(hourly(learn.cpu, learn.t, 0.95) or [0.0]) * 1.2
        mem = max(hourly(learn.mem, learn.t, 0.99) or [0.0]) * 1.3
        if max(learn.cpu) > 2 * quantile(learn.cpu, 0.95):
            cpu *= 1.2
        if max(learn.mem) > 2 * quantile(learn.mem, 0.99):
            mem *= 1.2
        return ResourceSpec(Resources(math.ceil(cpu * conf * 1000), math.ceil(mem * conf)), learn.current.limits)


def all_estimators() -> list[Estimator]:
    return [Preset("balanced"), Preset("resource-advisor"), KrrSimple(), VpaTarget(), AttuneDefault()]
