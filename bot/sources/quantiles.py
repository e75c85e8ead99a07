"""CPU and memory percentiles computed by the bot, from one range query per metric.

Asking the server for ``quantile_over_time(φ, <rate>[W:R])`` once per statistic evaluates the per-series
5-minute rate four times over (p50, p90, p95, p99) and memory four times likewise: eight subqueries, most
of the collection's time. Here each metric is evaluated once, as a range query at exactly the steps the
subquery would use, and the quantiles are taken in Python the way Prometheus takes them (promql/quantile.go):
per raw series, then the maximum over the series of a (namespace, pod, container).

Memory stays bounded: the range is asked for in parts of at most POINTS series × steps (pods grouped by
the series index, never by reading samples), each part is reduced to four numbers per series and dropped.
A part the server still refuses for its size is split like any other query (bot/sources/batch.py).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from bot.duration import parse_duration
from bot.sources.prometheus import (
    CPU, GROUP, MEMORY, QUANTILES, Method, PrometheusClient, Scope, TooBig, cpu_rate, cpu_series, memory_series,
)

POINTS = 250_000  # series × steps one part may hold: a few tens of MB of parsed JSON, whatever the cluster
MAX_STEPS = 10_000  # per request: Prometheus refuses more than 11,000 points per series in one range query
LOOKBACK = 300  # seconds: Prometheus' default lookback delta, and the CPU rate's window
LABELS = tuple(GROUP.split(", "))


def quantile(phi: float, ordered: list[float]) -> float:
    """Prometheus' quantile of values already in its order (NaN first, then ascending): rank φ·(n−1),
    a weighted average of the two neighbours, written as Prometheus writes it so the floats agree."""
    if not ordered:
        return math.nan
    n = len(ordered)
    rank = phi * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1.0, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def ordered(values: list[float]) -> list[float]:
    """Go's sort.Float64s order: NaN before every number (Python's sort is undefined with NaN in the list)."""
    nans = [v for v in values if v != v]
    return nans + sorted(v for v in values if v == v) if nans else sorted(values)


@dataclass(frozen=True)
class Grid:
    """The steps of a subquery [W:R] evaluated at ``at``: multiples of R since the epoch, in milliseconds."""

    first: int
    last: int
    step: int

    @property
    def count(self) -> int:
        return max(0, (self.last - self.first) // self.step + 1)

    def chunks(self, most: int = MAX_STEPS) -> list[tuple[int, int]]:
        """(first, last) of consecutive requests of at most ``most`` steps each."""
        span = most * self.step
        return [(start, min(self.last, start + span - self.step)) for start in range(self.first, self.last + 1, span)]


def grid(at: float, window: str, resolution: str, closed_start: bool) -> Grid:
    step = parse_duration(resolution) * 1000
    end = round(at * 1000)
    start = end - parse_duration(window) * 1000
    first = -(-start // step) * step  # the first multiple of the step at or after the window's start…
    if first == start and not closed_start:
        first += step  # …or after it, where the subquery's range is open at the start
    return Grid(first, end // step * step, step)


Job = tuple[Callable[[Scope], list], Scope]


def jobs(client: PrometheusClient, s: Scope, method: Method, at: float, limit: int = POINTS) -> dict[str, Job]:
    """One job per part of each metric's range ("cpu.quantiles 1/3", …), planned from the series index."""
    g = grid(at, s.window, s.resolution, method.closed_start)
    exprs = {"cpu": (lambda p: cpu_rate(p, method), method.cpu_rule or CPU, cpu_series(s, method)),
             "memory": (memory_series, MEMORY, memory_series(s))}
    match = tuple(m for *_, m in exprs.values())
    per_pod = _series_per_pod(client, match, g)
    out: dict[str, Job] = {}
    for metric, (expr, name, _) in exprs.items():
        if per_pod is None:
            # the index would not say (too many series to list): a part per namespace, split further on refusal
            parts = [s.narrowed(namespaces=(ns,)) for ns in _namespaces(client, s, match, g)] or [s]
        else:
            pods = per_pod.get(name)
            parts = plan(s, pods, g.count, limit) if pods else [s]
        for i, part in enumerate(parts, 1):
            fetch = (lambda p, e=expr: reduce_matrix(fetch_range(client, e(p), g)))
            out[f"{metric}.quantiles" + (f" {i}/{len(parts)}" if len(parts) > 1 else "")] = (fetch, part)
    return out


def _series_per_pod(client: PrometheusClient, match: tuple[str, ...], g: Grid) -> dict[str, Counter] | None:
    """Metric name → (namespace, pod) → how many series, from one lookup; None when the server refuses to list them.
    From one lookback (and one rate window) before the first step: a series that ended just before it still counts there."""
    try:
        found = client.series(match, g.first / 1000 - LOOKBACK, g.last / 1000)
    except TooBig:
        return None
    out: dict[str, Counter] = {}
    for m in found:
        out.setdefault(m.get("__name__", ""), Counter())[(m.get("namespace", ""), m.get("pod", ""))] += 1
    return out


def _namespaces(client: PrometheusClient, s: Scope, match: tuple[str, ...], g: Grid) -> tuple[str, ...]:
    return s.namespaces or tuple(client.label_values("namespace", match, g.first / 1000 - LOOKBACK, g.last / 1000))


def plan(s: Scope, per_pod: Counter, steps: int, limit: int = POINTS) -> list[Scope]:
    """Scopes covering every pod in ``per_pod`` ((namespace, pod) → series), each at most ``limit`` series ×
    steps where a single pod allows: whole namespaces together while they fit, else a namespace's pods in groups.
    Disjoint, so each series is read once."""
    if sum(per_pod.values()) * steps <= limit:
        return [s]
    by_ns: dict[str, list[tuple[str, int]]] = {}
    for (ns, pod), n in sorted(per_pod.items()):
        by_ns.setdefault(ns, []).append((pod, n))
    parts: list[Scope] = []
    whole: list[str] = []
    held = 0
    for ns, pods in by_ns.items():
        size = sum(n for _, n in pods) * steps
        if size > limit:
            parts.extend(s.narrowed(namespaces=(ns,), pods=group) for group in _groups(pods, steps, limit))
            continue
        if held + size > limit and whole:
            parts.append(s.narrowed(namespaces=tuple(whole)))
            whole, held = [], 0
        whole.append(ns)
        held += size
    if whole:
        parts.append(s.narrowed(namespaces=tuple(whole)))
    return parts


def _groups(pods: list[tuple[str, int]], steps: int, limit: int) -> list[tuple[str, ...]]:
    groups: list[list[str]] = [[]]
    held = 0
    for pod, n in pods:
        if groups[-1] and held + n * steps > limit:
            groups.append([])
            held = 0
        groups[-1].append(pod)
        held += n * steps
    return [tuple(g) for g in groups]


def fetch_range(client: PrometheusClient, promql: str, g: Grid, most: int = MAX_STEPS) -> dict[tuple, list[float]]:
    """Raw series → its values at the grid's steps, asked for in chunks of at most ``most`` steps."""
    values: dict[tuple, list[float]] = {}
    for first, last in g.chunks(most):
        for series in client.query_range(promql, first / 1000, last / 1000, g.step / 1000):
            key = tuple(sorted((series.get("metric") or {}).items()))
            values.setdefault(key, []).extend(map(float, [v for _, v in series.get("values") or ()]))
    return values


def reduce_matrix(values: dict[tuple, list[float]]) -> list[dict[str, Any]]:
    """Per raw series its four quantiles, then the maximum per (namespace, pod, container): one row per
    container, ``{"metric": {...}, "quantiles": {"p50": …, …}}``."""
    out: dict[tuple, dict[str, float]] = {}
    while values:
        labels, points = values.popitem()  # dropped as soon as reduced
        metric = dict(labels)
        key = tuple(metric.get(label, "") for label in LABELS)
        points = ordered(points)
        qs = {name: quantile(phi, points) for name, phi in QUANTILES.items()}
        held = out.get(key)
        out[key] = qs if held is None else {n: _max(held[n], v) for n, v in qs.items()}
    return [{"metric": dict(zip(LABELS, key)), "quantiles": qs} for key, qs in out.items()]


def _max(a: float, b: float) -> float:
    # Prometheus' `max by` skips NaN unless every value is NaN
    return b if a != a else a if b != b else max(a, b)


def merge(results: dict[str, list], at: float) -> dict[str, list[dict[str, Any]]]:
    """The parts' rows → "cpu.p50", "memory.p95", … as instant vectors, as the server's max by would give them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for metric in ("cpu", "memory"):
        best: dict[tuple, dict[str, float]] = {}
        for name, rows in results.items():
            if name.split(" ")[0] != f"{metric}.quantiles":
                continue
            for row in rows:
                key = tuple(row["metric"][label] for label in LABELS)
                held = best.get(key)
                best[key] = row["quantiles"] if held is None else {n: _max(held[n], v) for n, v in row["quantiles"].items()}
        for q in QUANTILES:
            out[f"{metric}.{q}"] = [{"metric": dict(zip(LABELS, key)), "value": [at, qs[q]]} for key, qs in best.items()]
    return out
