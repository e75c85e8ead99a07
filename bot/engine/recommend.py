"""The estimator chain: one container's usage and policy in, a recommendation out.

  targets:  percentile → margin → burst → confidence → bounds → limit rule → QoS (Guaranteed: one
            value that covers the limit rule) → guards (restart, OOM bump, throttling, no-downsize, HPA)
  moves:    deadband (is the gap between current and target worth a change?) → max step (how far this
            run goes) → rounding (once) → consistency (limit ≥ request, QoS kept) → warnings → coverage

Convergence is the contract: whether a value changes is judged on its long-run target, never on the
clamped step, so a material change always moves, and repeated runs on the same usage reach the target
(within the deadband) in ⌈log(target/current)/log(1+step)⌉ + 1 runs (docs/policy.md).

Each step that shapes a number adds one line of rationale. Values are millicores and bytes; floats
inside the chain, integers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor
from typing import NamedTuple

from bot import quantity
from bot.duration import human_duration
from bot.model import Container, Percentiles, RESOURCES, Resources, ResourceSpec
from bot.policy import ContainerPolicy, Pin, ResourcePolicy

SCALE = {"cpu": 1000.0, "memory": 1.0}  # usage unit (cores, bytes) → value unit (millicores, bytes)
KINDS = ("requests", "limits")
FIELD = {"requests": "request", "limits": "limit"}
STATEFUL_CUT_PERCENT = 25  # a cut larger than this on a stateful workload is flagged
_EPS = 1e-9  # float noise: 100 × 1.3 is 130.00000000000003, which must not round up to 131


class Step(NamedTuple):
    """One line of rationale: which step shaped which value, to what, and why in words. (A named tuple: a
    container has ~10 of them, and a frozen dataclass took 3× as long to make.)"""

    name: str
    resource: str
    field: str  # "request", "limit" or "both"
    value: float | None
    text: str


@dataclass(frozen=True, slots=True)
class ContainerRecommendation:
    container: str
    current: ResourceSpec
    proposed: ResourceSpec
    target: ResourceSpec  # where the chain goes in the long run (rounded), without step limits and deadband
    steps: tuple[Step, ...]
    blocked: str | None = None  # why nothing is proposed although the numbers say so
    urgent: bool = False  # restart- or OOM-guarded memory upsize
    warnings: tuple[str, ...] = ()  # risks a reviewer must see (a limit under the observed peak, a big cut on a database)

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


def fmt(resource: str, value: float | None) -> str:
    """A value as the rationale shows it: one unit per resource, decimals only when not whole."""
    return "none" if value is None else quantity.in_unit(resource, value)


def unmeasured_percentiles(usage: Percentiles, rp: ResourcePolicy, hourly: tuple[float, ...] | None) -> list[str]:
    """The percentiles this resource's policy reads that the snapshot does not hold (None: not measured)."""
    names = dict.fromkeys("p95" if w == "hourly-p95" and not hourly else w for w in rp.usage_read())
    return [n for n in names if n not in ("max", "hourly-p95") and usage.at(n) is None]


@dataclass
class _Field:
    """One of a container's four values on its way from current to proposed."""

    kind: str  # requests | limits
    resource: str
    current: int | None
    target: float | None
    fixed: bool = False  # pinned, HPA-kept or without data: written as the target, no deadband or step
    rounded: int | None = None  # the target after the policy's rounding (set by _moves for every value that moves)


class _Chain:
    """Collects rationale lines while one container's numbers move through the steps."""

    def __init__(self, container: Container, policy: ContainerPolicy, window_seconds: int):
        self.c = container
        self.policy = policy
        self.window = window_seconds
        self.steps: list[Step] = []
        self.warnings: list[str] = []

    def note(self, name: str, resource: str, field: str, value: float | None, text: str) -> None:
        # The value without float noise: 0.1m for CPU, whole bytes for memory.
        if value is not None:
            value = round(value, 1) if resource == "cpu" else float(round(value))
        self.steps.append(Step(name, resource, field, value, text))

    def hourly(self, r: str) -> tuple[float, ...] | None:
        return self.c.usage.hourly(r)

    # -- request ---------------------------------------------------------------
    def request_target(self, r: str, usage: Percentiles, rp: ResourcePolicy) -> float:
        base = usage.statistic(rp.percentile, self.hourly(r)) * SCALE[r]
        label = "max of hourly p95" if rp.percentile == "hourly-p95" else rp.percentile
        self.note("percentile", r, "request", base, f"{label} usage over the window: {fmt(r, base)}")
        value = base * (1 + rp.margin)
        if rp.margin:
            self.note("margin", r, "request", value, f"+{rp.margin:.0%} margin → {fmt(r, value)}")
        peak = usage.max * SCALE[r]
        if rp.burst and rp.burst.headroom and base > 0 and peak >= rp.burst.threshold * base:
            value *= 1 + rp.burst.headroom
            self.note(
                "burst", r, "request", value,
                f"peak {fmt(r, peak)} is {peak / base:.1f}× {label}: +{rp.burst.headroom:.0%} burst headroom → {fmt(r, value)}",
            )
        widen = self.confidence_factor()
        if widen > 1:
            value *= widen
            self.note(
                "confidence", r, "request", value,
                f"only {human_duration(self.c.coverage_seconds)} of data: ×{widen:.2f} for low confidence → {fmt(r, value)}",
            )
        if rp.min is not None and value < rp.min:
            value = float(rp.min)
            self.note("bounds", r, "request", value, f"raised to the floor {fmt(r, value)}")
        if rp.max is not None and value > rp.max:
            value = float(rp.max)
            self.note("bounds", r, "request", value, f"capped at the maximum {fmt(r, value)}")
        return value

    def confidence_factor(self) -> float:
        widen = self.policy.confidence_max_widen
        if not widen or self.window <= 0:
            return 1.0
        covered = min(1.0, self.c.coverage_seconds / self.window)
        return 1.0 + widen * (1.0 - covered)

    # -- limit -----------------------------------------------------------------
    def usage_cover(self, r: str, usage: Percentiles, rp: ResourcePolicy) -> float:
        """The limit rule's usage part: the statistic it covers, with its margin."""
        rule = rp.limit
        return usage.statistic(rule.usage, self.hourly(r)) * SCALE[r] * (1 + rule.usage_margin)

    def limit_target(self, r: str, request: float, usage: Percentiles, rp: ResourcePolicy, current: int | None) -> float | None:
        rule = rp.limit
        if rule.mode == "none":
            if current is not None:
                self.note("limit", r, "limit", None, "limit removed (policy limit.mode: none)")
            return None
        if rule.mode == "keep" or (current is None and rule.only_if_set):
            return None if current is None else float(current)
        if rule.mode == "equal":
            self.note("limit", r, "limit", request, f"limit = request → {fmt(r, request)}")
            return request
        by_request = request * rule.request_ratio
        if rule.mode == "ratio":
            self.note("limit", r, "limit", by_request, f"limit = request × {rule.request_ratio:g} → {fmt(r, by_request)}")
            return by_request
        by_usage = self.usage_cover(r, usage, rp)
        value = max(by_request, by_usage)
        self.note(
            "limit", r, "limit", value,
            f"limit = max(request × {rule.request_ratio:g}, {rule.usage} × {1 + rule.usage_margin:g}) "
            f"= max({fmt(r, by_request)}, {fmt(r, by_usage)}) → {fmt(r, value)}",
        )
        return value


# --- deciding and moving -----------------------------------------------------

def _material(current: int | None, target: float | None, rp: ResourcePolicy) -> bool:
    """Is the gap between a value and its long-run target worth a change? (Never judged on a clamped step.)"""
    if current is None or target is None:
        return current != target
    gap = abs(target - current)
    if gap < 0.5:
        return False
    by_percent = gap >= current * rp.deadband_percent / 100 - _EPS
    by_absolute = gap >= rp.deadband_absolute - _EPS
    return (by_percent or by_absolute) if rp.deadband_requires == "any" else (by_percent and by_absolute)


def _rounding_step(r: str, value: float, rp: ResourcePolicy) -> int:
    step = rp.rounding.step or (quantity.cpu_step(int(value)) if r == "cpu" else quantity.memory_step(int(value)))
    return max(int(step), 1)


def _round(r: str, value: float, rp: ResourcePolicy) -> int:
    """The policy's rounding: up to a legible step (never cutting headroom), or nearest with ties to even (seed 000)."""
    step = _rounding_step(r, value, rp)
    if rp.rounding.direction == "nearest":
        return max(int(round(value / step)), 1) * step  # never 0: a request of 0 is no request
    return max(int(ceil(value / step - _EPS)), 1) * step


def _decrease_limit(rp: ResourcePolicy, kind: str) -> float:
    if kind == "limits" and rp.limit.max_decrease_percent is not None:
        return rp.limit.max_decrease_percent
    return rp.max_decrease_percent


def _move(chain: _Chain, f: _Field, rp: ResourcePolicy) -> int | None:
    """A material change: at most one max step toward the target, rounded once, and always some progress."""
    r, name = f.resource, FIELD[f.kind]
    if f.target is None:
        return None
    final = f.rounded
    if f.current is None or f.current <= 0:
        _note_rounding(chain, r, name, f.target, final, rp)
        return final
    cur = f.current
    down = _decrease_limit(rp, f.kind)
    low, high = cur * (1 - down / 100), cur * (1 + rp.max_increase_percent / 100)
    stepped = min(max(f.target, low), high)
    clamped = stepped != f.target
    if clamped:
        chain.note(
            "max step", r, name, stepped,
            f"{name} moves at most −{down:g}% / +{rp.max_increase_percent:g}% per run → {fmt(r, stepped)} "
            f"(target {fmt(r, f.target)})",
        )
    step = _rounding_step(r, stepped, rp)
    if not clamped or rp.rounding.direction == "nearest":
        value = final if not clamped else _round(r, stepped, rp)
    elif stepped < cur:
        # A clamped decrease rounds toward its target: rounding up would give back part of the step.
        value = max(int(floor(stepped / step + _EPS)) * step, final)
    else:
        value = _round(r, stepped, rp)
    if value == cur and final != cur:
        unit = _rounding_step(r, cur, rp)
        value = min(final, cur + unit) if final > cur else max(final, cur - unit)
        chain.note("rounding", r, name, value, f"rounding would undo this run's step: one {fmt(r, unit)} step → {fmt(r, value)}")
    else:
        _note_rounding(chain, r, name, stepped, value, rp)
    return value


def _note_rounding(chain: _Chain, r: str, name: str, exact: float, value: int, rp: ResourcePolicy) -> None:
    if abs(value - exact) < 0.05:
        return
    how = "to the nearest" if rp.rounding.direction == "nearest" else ("down to a" if value < exact else "up to a")
    step = _rounding_step(r, exact, rp)
    chain.note("rounding", r, name, value, f"{name} rounded {how} {fmt(r, step)} step → {fmt(r, value)}")


# --- the chain -------------------------------------------------------------------

def _fields_for(
    chain: _Chain, r: str, current: ResourceSpec, policy: ContainerPolicy, guaranteed: bool,
    hpa_resources: tuple[str, ...], hpa_name: str, pin: Pin | None,
) -> tuple[_Field, _Field]:
    c, rp, guards = chain.c, policy.resource(r), policy.guards
    cur_req = current.effective_request(r) if (current.requests.get(r) is not None or current.limits.get(r) is not None) else None
    cur_lim = current.limits.get(r)
    req_f, lim_f = _Field("requests", r, cur_req, None), _Field("limits", r, cur_lim, None)

    def fixed(req: float | None, lim: float | None) -> tuple[_Field, _Field]:
        req_f.target, lim_f.target, req_f.fixed, lim_f.fixed = req, lim, True, True
        return req_f, lim_f

    pinned = getattr(pin, r) if pin else None
    if pinned is not None:
        chain.note("pin", r, "request", pinned, f"pinned to {fmt(r, pinned)} by a /rightsize pin command")
        return fixed(float(pinned), None if cur_lim is None else float(max(cur_lim, pinned)))
    usage = c.usage.get(r)
    if usage is None:
        chain.note("percentile", r, "both", None, f"no {r} usage data: {r} left as it is")
        return fixed(cur_req, cur_lim)
    unmeasured = unmeasured_percentiles(usage, rp, chain.hourly(r))
    if unmeasured:
        chain.note("percentile", r, "both", None,
                   f"the snapshot has no {r} {' or '.join(unmeasured)} (not measured): {r} left as it is")
        return fixed(cur_req, cur_lim)
    if r in hpa_resources and policy.hpa == "skip":
        chain.note(
            "HPA", r, "both", cur_req,
            f"HPA {hpa_name} scales on {r} utilization: {r} kept (policy hpa: skip; a new request would move its target)",
        )
        return fixed(cur_req, cur_lim)

    req = chain.request_target(r, usage, rp)
    lim = chain.limit_target(r, req, usage, rp, cur_lim)
    if guaranteed:
        # Only a formula limit has a usage part to honour; ratio and equal limits follow the request itself.
        cover = chain.usage_cover(r, usage, rp) if rp.limit.mode == "formula" else req
        if rp.limit.mode == "keep":
            cover = float(cur_lim)
        shared = max(req, cover)
        chain.note(
            "QoS", r, "both", shared,
            f"Guaranteed QoS kept: request = limit, which must cover {rp.limit.usage} × {1 + rp.limit.usage_margin:g} "
            f"= {fmt(r, cover)} → {fmt(r, shared)}" if shared > req else f"Guaranteed QoS kept: request = limit = {fmt(r, shared)}",
        )
        req = lim = shared

    restarted = c.restarts > 0 or c.oom_kills > 0
    if r == "memory" and guards.restart and restarted and cur_req is not None:
        if req < cur_req or (lim is not None and cur_lim is not None and lim < cur_lim):
            req = max(req, float(cur_req))
            lim = None if lim is None else max(lim, float(cur_lim or 0))
            chain.note("restart guard", r, "both", req, f"{c.restarts} restart(s), {c.oom_kills} OOM kill(s) in the window: memory not decreased")
    if r == "memory" and c.oom_kills and guards.oom_bump_percent and cur_req is not None:
        bump = 1 + guards.oom_bump_percent / 100
        if req < cur_req * bump:
            req = cur_req * bump
            chain.note("OOM bump", r, "request", req, f"OOM-killed: request at least +{guards.oom_bump_percent:g}% → {fmt(r, req)}")
        if cur_lim is not None and lim is not None and lim < cur_lim * bump:
            lim = cur_lim * bump
            chain.note("OOM bump", r, "limit", lim, f"OOM-killed: limit at least +{guards.oom_bump_percent:g}% → {fmt(r, lim)}")
    throttled = c.cpu_throttled_ratio or 0
    if r == "cpu" and guards.throttle_bump_percent and cur_lim is not None and lim is not None and throttled > guards.throttle_threshold:
        bumped = cur_lim * (1 + guards.throttle_bump_percent / 100)
        if lim < bumped:
            lim = bumped
            chain.note("throttle guard", r, "limit", lim, f"throttled in {throttled:.0%} of periods: limit +{guards.throttle_bump_percent:g}% → {fmt(r, lim)}")
    if guards.no_downsize and cur_req is not None and (req < cur_req or (lim is not None and cur_lim is not None and lim < cur_lim)):
        req = max(req, float(cur_req))
        lim = None if lim is None else max(lim, float(cur_lim if cur_lim is not None else lim))
        chain.note("no-downsize", r, "both", req, "on the no-downsize list: may grow, never shrink")
    if r in hpa_resources:
        chain.note("HPA", r, "both", req, f"HPA {hpa_name} scales on {r} utilization: changing the request moves its effective target (policy hpa: allow)")
    if guaranteed:
        req = lim = max(req, lim if lim is not None else req)
    req_f.target, lim_f.target = req, lim
    return req_f, lim_f


def recommend(
    container: Container,
    policy: ContainerPolicy,
    window_seconds: int,
    *,
    hpa_resources: tuple[str, ...] = (),
    hpa_name: str = "",
    pin: Pin | None = None,
) -> ContainerRecommendation:
    chain = _Chain(container, policy, window_seconds)
    current = container.resources
    guaranteed = policy.preserve_qos and current.qos == "Guaranteed"
    fields: dict[tuple[str, str], _Field] = {}
    shared: set[str] = set()
    for r in RESOURCES:
        keep_shared = guaranteed and policy.resource(r).limit.mode != "none"
        req_f, lim_f = _fields_for(chain, r, current, policy, keep_shared, hpa_resources, hpa_name, pin)
        fields[("requests", r)], fields[("limits", r)] = req_f, lim_f
        if keep_shared and not req_f.fixed:
            shared.add(r)

    values = _moves(chain, fields, policy, shared)
    proposed = _finish(chain, current, values, shared)
    target = _finish(None, current, {k: _settles_at(f, policy, values.get(k, f.current)) for k, f in fields.items()}, shared)
    _warn(chain, container, current, proposed, policy)

    restarted = container.restarts > 0 or container.oom_kills > 0
    urgent = restarted and (proposed.requests.memory or 0) > (current.effective_request("memory") or 0)
    blocked = None
    if container.coverage_seconds < policy.coverage_required_seconds and proposed != current:
        need, have = human_duration(policy.coverage_required_seconds), human_duration(container.coverage_seconds)
        if urgent:
            proposed = _only_memory_increases(current, proposed)
            chain.note("coverage", "memory", "both", None, f"only {have} of data (policy needs {need}); restart-guarded memory upsize goes ahead, the rest waits")
        else:
            blocked = f"only {have} of data; policy needs {need}"
            chain.note("coverage", "cpu", "both", None, f"{blocked}: no change yet")
            proposed = current
    return ContainerRecommendation(
        container=container.name,
        current=current,
        proposed=proposed,
        target=target,
        steps=tuple(chain.steps),
        blocked=blocked,
        urgent=urgent and proposed != current,
        warnings=tuple(chain.warnings) if proposed != current else (),
    )


def _moves(chain: _Chain, fields: dict[tuple[str, str], _Field], policy: ContainerPolicy, shared: set[str]) -> dict[tuple[str, str], int | None]:
    """Which values change (deadband on the target) and where this run takes them (max step, rounding)."""
    for (_, r), f in fields.items():
        if f.target is not None and not f.fixed:
            f.rounded = _round(r, f.target, policy.resource(r))
    judged = {k: f for k, f in fields.items() if not f.fixed and not (k[0] == "requests" and k[1] in shared)}
    # A gap that rounding erases is no change: under the container scope it would otherwise drag the
    # container's other values along run after run, while the value itself never moves.
    material = {k: _material(f.current, f.target, policy.resource(k[1])) and not (f.current is not None and f.rounded == f.current)
                for k, f in judged.items()}
    if policy.deadband_scope == "container" and any(material.values()):
        material = {k: f.current is None or f.target is None or abs(f.target - f.current) >= 0.5 for k, f in judged.items()}
    values: dict[tuple[str, str], int | None] = {}
    for (kind, r), f in fields.items():
        rp = policy.resource(r)
        if f.fixed:
            values[(kind, r)] = None if f.target is None else int(ceil(f.target - _EPS))
        elif (kind, r) not in judged:
            continue  # a Guaranteed request follows its limit
        elif material[(kind, r)]:
            values[(kind, r)] = _move(chain, f, rp)
        else:
            if f.target is not None and f.current is not None and f.rounded != f.current:
                chain.note("deadband", r, FIELD[kind], f.current,
                           f"{FIELD[kind]} {fmt(r, f.current)} is within the deadband of its target {fmt(r, f.target)}: kept")
            values[(kind, r)] = f.current
    for r in shared:
        values[("requests", r)] = values[("limits", r)]
    return values


def _settles_at(f: _Field, policy: ContainerPolicy, now: int | None) -> int | None:
    """Where repeated runs leave the value: where this run puts it (``now``) when that is already
    within the deadband of its target, else its rounded target."""
    if f.target is None:
        return None
    if f.fixed:
        return int(ceil(f.target - _EPS))
    rp = policy.resource(f.resource)
    if now is not None and not _material(now, f.target, rp):
        return now
    return f.rounded


def _finish(chain: _Chain | None, current: ResourceSpec, values: dict[tuple[str, str], int | None], shared: set[str]) -> ResourceSpec:
    """Keep limit ≥ request and the QoS class, and leave unset a request that equals its implicit default."""
    out = dict(values)
    for r in RESOURCES:
        req, lim = out[("requests", r)], out[("limits", r)]
        if r in shared:
            out[("limits", r)] = req
        elif req is not None and lim is not None and lim < req:
            if chain:
                chain.note("consistency", r, "limit", req, f"limit raised to the request {fmt(r, req)}")
            out[("limits", r)] = req
        # A request the file never set stays unset when it equals the limit it defaults to.
        if current.requests.get(r) is None and current.limits.get(r) is not None and out[("requests", r)] == out[("limits", r)]:
            out[("requests", r)] = None
    return ResourceSpec(
        Resources(out[("requests", "cpu")], out[("requests", "memory")]),
        Resources(out[("limits", "cpu")], out[("limits", "memory")]),
    )


def _warn(chain: _Chain, c: Container, current: ResourceSpec, proposed: ResourceSpec, policy: ContainerPolicy) -> None:
    """Risks a reviewer must see: a written limit under the window's peak, a large cut on a stateful workload."""
    for r in RESOURCES:
        usage = c.usage.get(r)
        new_lim = proposed.limits.get(r)
        if usage is not None and new_lim is not None and new_lim != current.limits.get(r):
            peak = usage.max * SCALE[r]
            if new_lim < peak:
                text = (f"will throttle at {fmt(r, new_lim)}: the window's CPU peak was {fmt(r, peak)}" if r == "cpu"
                        else f"OOM risk: memory limit {fmt(r, new_lim)} is under the window's peak {fmt(r, peak)}")
                chain.warnings.append(text)
                chain.note("warning", r, "limit", new_lim, text)
        if policy.stateful:
            for kind in KINDS:
                old, new = current.get(kind, r), proposed.get(kind, r)
                if old and new is not None and new < old * (1 - STATEFUL_CUT_PERCENT / 100):
                    text = f"large cut on a stateful workload: {r} {FIELD[kind]} {fmt(r, old)} → {fmt(r, new)} ({(new - old) / old:+.0%})"
                    chain.warnings.append(text)
                    chain.note("warning", r, FIELD[kind], new, text)


def _only_memory_increases(current: ResourceSpec, proposed: ResourceSpec) -> ResourceSpec:
    spec = current
    for kind in KINDS:
        new, old = proposed.get(kind, "memory"), current.get(kind, "memory")
        if new is not None and (old is None or new > old):
            spec = spec.with_value(kind, "memory", new)
    return spec
