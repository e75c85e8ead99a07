"""Every estimator behind one interface: (learning window, current resources) → the resources it writes.

Ours go through bot.engine.recommend; the anchors reimplement their documented defaults
(docs/benchmarks.md derives each one). One call is one application: the protocols in quality.py
decide how often an estimator is applied and from what (provisioned size, last week, its own output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np

from bot.engine.recommend import recommend
from bot.model import Container, Percentiles, Resources, ResourceSpec, Usage
from bot.policy import container_policy, deep_merge, preset_document
from tests.bench.traces import STEP

MIB = 2**20
GIB = 2**30
DAY = 86400


@dataclass
class Learn:
    cpu: np.ndarray  # cores
    mem: np.ndarray  # bytes
    t: np.ndarray  # seconds
    coverage_seconds: float  # samples × step, as the bot's count_over_time
    current: ResourceSpec
    oom_kills: int = 0  # in the previous scored week


def quantile(values, phi: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Prometheus' quantile_over_time)."""
    return float(np.quantile(values, phi)) if len(values) else 0.0


def hourly(values: np.ndarray, t: np.ndarray, phi: float) -> list[float]:
    """phi-quantile of each hour-of-day bucket (UTC), empty hours left out."""
    hours = (t // 3600) % 24
    return [quantile(values[hours == h], phi) for h in range(24) if np.any(hours == h)]


class Estimator(Protocol):
    name: str

    def __call__(self, learn: Learn) -> ResourceSpec: ...


def _percentiles(values: np.ndarray) -> Percentiles:
    p50, p90, p95, p99 = (float(x) for x in np.quantile(values, (0.5, 0.9, 0.95, 0.99)))
    return Percentiles(p50, p90, p95, p99, float(values.max()))


@dataclass
class Preset:
    """A preset through the real engine; `tweak` overrides preset fields (for tuning)."""

    preset: str
    tweak: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    window_seconds: int = 14 * DAY

    def __post_init__(self) -> None:
        self.policy = container_policy(deep_merge(preset_document(self.preset)["container"], self.tweak))

    @property
    def name(self) -> str:
        return self.label or self.preset

    def __call__(self, learn: Learn) -> ResourceSpec:
        c = Container(
            "app", learn.current,
            Usage(_percentiles(learn.cpu), _percentiles(learn.mem),
                  tuple(hourly(learn.cpu, learn.t, 0.95)) or None, tuple(hourly(learn.mem, learn.t, 0.95)) or None),
            coverage_seconds=learn.coverage_seconds, restarts=learn.oom_kills, oom_kills=learn.oom_kills,
        )
        return recommend(c, self.policy, self.window_seconds).proposed


class SeedFormula:
    """Seed 000's formula applied in one shot (no step limit, no coverage gate, no deadband):
    request = max(floor, p95 × 1.30), floors 25m / 64Mi; CPU limit = max(request × 2, p95 × 1.6),
    memory limit = max(request × 1.5, p95 × 1.6); whole millicores and MiB, round half to even."""

    name = "seed-formula"

    def __call__(self, learn: Learn) -> ResourceSpec:
        cpu_p95, mem_p95 = quantile(learn.cpu, 0.95) * 1000, quantile(learn.mem, 0.95) / MIB
        cpu_req = max(25, round(cpu_p95 * 1.3))
        mem_req = max(64, round(mem_p95 * 1.3))
        cpu_lim = round(max(cpu_req * 2.0, cpu_p95 * 1.6))
        mem_lim = round(max(mem_req * 1.5, mem_p95 * 1.6))
        return ResourceSpec(Resources(cpu_req, mem_req * MIB), Resources(cpu_lim, mem_lim * MIB))


class KrrSimple:
    """KRR `simple` (robusta_krr/strategies/simple.py): CPU request = p95 over the history, no CPU
    limit; memory request = limit = max × 1.15; floors 10m and 100 MB (config cpu_min_value,
    memory_min_value, read as MiB); history 14 days (336 h); needs 100 points."""

    name = "krr-simple"

    def __call__(self, learn: Learn) -> ResourceSpec:
        if len(learn.cpu) < 100:
            return learn.current
        cpu = max(10, math.ceil(quantile(learn.cpu, 0.95) * 1000))
        mem = max(100 * MIB, math.ceil(float(learn.mem.max()) * 1.15))
        return ResourceSpec(Resources(cpu, mem), Resources(None, mem))


# --- VPA ---------------------------------------------------------------------------

class VpaHistogram:
    """The VPA recommender's exponential histogram: bucket i starts at first × (ratio^i − 1)/(ratio − 1);
    a percentile is the END of the bucket where the cumulative weight first reaches phi × total."""

    def __init__(self, first: float, ratio: float = 1.05):
        self.first, self.ratio = first, ratio
        self.weights: dict[int, float] = {}

    def bucket(self, v: float) -> int:
        return max(0, int(math.floor(math.log(v * (self.ratio - 1) / self.first + 1) / math.log(self.ratio))))

    def start(self, i: int) -> float:
        return self.first * (self.ratio**i - 1) / (self.ratio - 1)

    def add(self, v: float, w: float) -> None:
        b = self.bucket(v)
        self.weights[b] = self.weights.get(b, 0.0) + w

    def percentile(self, phi: float) -> float:
        total = sum(self.weights.values())
        acc = 0.0
        for b in sorted(self.weights):
            acc += self.weights[b]
            if acc >= phi * total:
                return self.start(b + 1)
        return 0.0


VPA_HALF_LIFE = DAY  # CPU and memory histogram decay half-life (24 h)
VPA_MARGIN = 0.15  # recommendation-margin-fraction
VPA_MIN_CPU, VPA_MIN_MEM = 25, 250 * MIB  # pod-recommendation-min-cpu-millicores / -min-memory-mb, one container


def vpa_recommendation(learn: Learn) -> dict[str, tuple[float, float, float]]:
    """(lower bound, target, upper bound) per resource, in millicores and bytes."""
    end = float(learn.t.max())
    decay = 0.5 ** ((end - learn.t) / VPA_HALF_LIFE)
    cpu = VpaHistogram(0.01)  # cores, first bucket 0.01 core
    for v, w in zip(learn.cpu, decay):
        cpu.add(float(v), float(w))
    mem = VpaHistogram(1e7)  # bytes, first bucket 10 MB
    day = (learn.t - learn.t.min()) // DAY  # 24 h aggregation intervals from the first sample
    for d in np.unique(day):
        sel = day == d
        mem.add(float(learn.mem[sel].max()), float(0.5 ** ((end - learn.t[sel].min()) / VPA_HALF_LIFE)))
    span_days = (end - float(learn.t.min())) / DAY
    conf = min(span_days, learn.coverage_seconds / DAY)  # min(lifespan, samples/(60×24)) at 1 sample a minute
    out = {}
    for r, h, scale, floor in (("cpu", cpu, 1000.0, VPA_MIN_CPU), ("memory", mem, 1.0, VPA_MIN_MEM)):
        target = h.percentile(0.9) * (1 + VPA_MARGIN) * scale
        lower = h.percentile(0.5) * (1 + VPA_MARGIN) * scale * (1 + 0.001 / conf) ** -2
        upper = h.percentile(0.95) * (1 + VPA_MARGIN) * scale * (1 + 1.0 / conf)
        out[r] = (max(lower, floor), max(target, floor), max(upper, floor))
    return out


@dataclass
class Vpa:
    """VPA in Auto/Recreate mode with default controlledValues (RequestsAndLimits: the limit/request
    ratio of the pod is kept). `guaranteed`: the pod is Guaranteed, so both limits follow the target;
    otherwise it is the provisioned start (memory limit = request, no CPU limit), Burstable.
    The updater replaces a pod whose request is outside [lower, upper] or ≥ 10 % from the target."""

    guaranteed: bool

    @property
    def name(self) -> str:
        return "vpa-guaranteed" if self.guaranteed else "vpa-burstable"

    def __call__(self, learn: Learn) -> ResourceSpec:
        rec = vpa_recommendation(learn)
        cur = learn.current
        update = False
        for r, (lo, target, hi) in rec.items():
            req = cur.requests.get(r) or 0
            if req < lo or req > hi or abs(target - req) >= 0.10 * max(req, 1):
                update = True
        if not update:
            return cur
        cpu, mem = math.ceil(rec["cpu"][1]), math.ceil(rec["memory"][1])
        ratio_m = (cur.limits.memory / cur.requests.memory) if cur.limits.memory and cur.requests.memory else None
        mem_lim = math.ceil(mem * ratio_m) if ratio_m else None
        cpu_lim = cpu if self.guaranteed else None
        if self.guaranteed:
            mem_lim = mem
        return ResourceSpec(Resources(cpu, mem), Resources(cpu_lim, mem_lim))


# --- Attune ----------------------------------------------------------------------------

ATTUNE_MAX_CPU, ATTUNE_MAX_MEM = 4000, 8 * GIB  # the documented bounds (maxAllowed 4000m / 8Gi)


def attune_target(values: np.ndarray, t: np.ndarray, phi: float, margin: float, coverage_seconds: float) -> float:
    """Attune's chain before its change filter: max(overall, hourly) percentile × margin × burst × confidence."""
    overall = quantile(values, phi)
    base = max([overall, *hourly(values, t, phi)])
    value = base * margin
    peak = float(values.max())
    if overall > 0 and peak > 3 * overall:  # BuildProfile flags a burst when max > 3 × p95
        value *= 1 + 0.1 * math.log2(peak / overall)
    span_days = (float(t.max()) - float(t.min())) / DAY
    points = coverage_seconds / STEP  # data points: the samples at the query step (the traces' 5 minutes)
    confidence = min(1.0, max(0.0, min(span_days, math.sqrt(points / 24)) / 7))
    return value * (1 + 1.0 / max(confidence, 0.1)) ** 2.0


class AttuneDefault:
    """Attune's default chain (docs/architecture/algorithm.md, internal/recommendation/chain.go):
    CPU p95 × 1.2, memory p99 × 1.3, burst log-boost, confidence (1 + 1/c)², bounds 4 cores / 8Gi;
    requests only, clamped to the container's limits; the change filter (≥ 10 %, at most 50 % CPU /
    30 % memory a cycle) runs every 1 h cooldown, so within a week it reaches the target."""

    name = "attune"

    def __call__(self, learn: Learn) -> ResourceSpec:
        cur = learn.current
        out = {}
        for r, values, phi, margin, cap, scale, step in (
            ("cpu", learn.cpu, 0.95, 1.2, ATTUNE_MAX_CPU, 1000.0, 0.5),
            ("memory", learn.mem, 0.99, 1.3, ATTUNE_MAX_MEM, 1.0, 0.3),
        ):
            target = min(attune_target(values, learn.t, phi, margin, learn.coverage_seconds) * scale, cap)
            if cur.limits.get(r) is not None:
                target = min(target, cur.limits.get(r))  # requests clamped to limits
            value = float(cur.requests.get(r) or target)
            for _ in range(168):  # one week of hourly cycles
                if abs(target - value) < 0.10 * value:
                    break
                value = min(target, value * (1 + step)) if target > value else max(target, value * (1 - step))
            out[r] = math.ceil(value)
        return ResourceSpec(Resources(out["cpu"], out["memory"]), cur.limits)


def anchors() -> list[Estimator]:
    return [Preset("resource-advisor"), SeedFormula(), KrrSimple(), Vpa(True), Vpa(False), AttuneDefault()]


def all_estimators() -> list[Estimator]:
    return [Preset("balanced"), *anchors()]
