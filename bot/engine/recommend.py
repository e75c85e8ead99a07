"""The estimator chain: one container's usage and policy in, a recommendation out.

  percentile → margin → burst → confidence → bounds → limits rule
  → guards (restart, OOM bump, throttling, no-downsize, HPA, coverage)
  → max step → deadband → rounding → consistency (limit ≥ request, QoS kept)

Each step that changes a number adds one line of rationale. Values are
millicores and bytes; floats inside the chain, integers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import floor

from bot import quantity
from bot.duration import human_duration
from bot.model import Container, Percentiles, RESOURCES, Resources, ResourceSpec
from bot.policy import ContainerPolicy, Pin, ResourcePolicy

SCALE = {"cpu": 1000.0, "memory": 1.0}  # usage unit (cores, bytes) → value unit (millicores, bytes)


@dataclass(frozen=True)
class Step:
    name: str
    resource: str
    field: str  # "request", "limit" or "both"
    value: float | None
    text: str


@dataclass(frozen=True)
class ContainerRecommendation:
    container: str
    current: ResourceSpec
    proposed: ResourceSpec
    target: ResourceSpec  # where the chain would go without step limits and deadband
    steps: tuple[Step, ...]
    blocked: str | None = None  # why nothing is proposed although the numbers say so
    urgent: bool = False  # restart- or OOM-guarded memory upsize

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


def fmt(resource: str, value: float | None) -> str:
    if value is None:
        return "none"
    v = int(round(value))
    if resource == "cpu":
        return f"{v}m"
    if v >= quantity.GI:
        return f"{v / quantity.GI:.2f}Gi".replace(".00Gi", "Gi")
    return f"{v / quantity.MI:.0f}Mi" if v >= quantity.MI else f"{v}B"


def _usage_value(p: Percentiles, which: str, hourly: tuple[float, ...] | None) -> float:
    if which == "hourly-p95":
        return max(hourly) if hourly else p.p95
    return p.at(which)


class _Chain:
    """Collects rationale lines while one container's numbers move through the steps."""

    def __init__(self, container: Container, policy: ContainerPolicy, window_seconds: int):
        self.c = container
        self.policy = policy
        self.window = window_seconds
        self.steps: list[Step] = []

    def note(self, name: str, resource: str, field: str, value: float | None, text: str) -> None:
        self.steps.append(Step(name, resource, field, value, text))

    # -- request ---------------------------------------------------------------
    def request_target(self, r: str, usage: Percentiles, rp: ResourcePolicy) -> float:
        hourly = self.c.usage.cpu_hourly_p95 if r == "cpu" else self.c.usage.memory_hourly_p95
        base = _usage_value(usage, rp.percentile, hourly) * SCALE[r]
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
    def limit_target(self, r: str, request: float, usage: Percentiles, rp: ResourcePolicy, current: int | None) -> float | None:
        rule = rp.limit
        if rule.only_if_set and current is None:
            return None
        if rule.mode == "keep":
            return None if current is None else float(current)
        if rule.mode == "none":
            if current is not None:
                self.note("limit", r, "limit", None, "limit removed (policy limit.mode: none)")
            return None
        if rule.mode == "equal":
            self.note("limit", r, "limit", request, f"limit = request → {fmt(r, request)}")
            return request
        by_request = request * rule.request_ratio
        if rule.mode == "ratio":
            self.note("limit", r, "limit", by_request, f"limit = request × {rule.request_ratio:g} → {fmt(r, by_request)}")
            return by_request
        hourly = self.c.usage.cpu_hourly_p95 if r == "cpu" else self.c.usage.memory_hourly_p95
        by_usage = _usage_value(usage, rule.usage, hourly) * SCALE[r] * (1 + rule.usage_margin)
        value = max(by_request, by_usage)
        self.note(
            "limit", r, "limit", value,
            f"limit = max(request × {rule.request_ratio:g}, {rule.usage} × {1 + rule.usage_margin:g}) "
            f"= max({fmt(r, by_request)}, {fmt(r, by_usage)}) → {fmt(r, value)}",
        )
        return value


def _clamp_step(current: int | None, target: float | None, rp: ResourcePolicy, limit: bool = False) -> float | None:
    """Seed 000's recommend(): move at most max-step percent away from the current value."""
    if target is None or current is None or current <= 0:
        return target
    down = rp.limit.max_decrease_percent if limit and rp.limit.max_decrease_percent is not None else rp.max_decrease_percent
    low = current * (1 - down / 100)
    high = current * (1 + rp.max_increase_percent / 100)
    return min(max(target, low), high)


def _within_deadband(current: int | None, value: float | None, rp: ResourcePolicy) -> bool:
    if current is None or value is None:
        return False
    delta = abs(value - current)
    return delta < current * rp.deadband_percent / 100 or delta < rp.deadband_absolute


def _round(resource: str, value: float, rp: ResourcePolicy) -> int:
    step = rp.rounding.step or (quantity.cpu_step(int(value)) if resource == "cpu" else quantity.memory_step(int(value)))
    step = max(step, 1)
    if rp.rounding.direction == "nearest":
        return int(floor(value / step + 0.5)) * step
    return quantity.round_up(int(-(-value // 1)), step)


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
    guards = policy.guards
    restarted = container.restarts > 0 or container.oom_kills > 0
    values: dict[tuple[str, str], float | None] = {}
    targets: dict[tuple[str, str], float | None] = {}
    untouched: set[str] = set()

    for r in RESOURCES:
        rp = policy.resource(r)
        cur_req = current.effective_request(r) if (current.requests.get(r) is not None or current.limits.get(r) is not None) else None
        cur_lim = current.limits.get(r)
        pinned = getattr(pin, r) if pin else None
        usage = container.usage.get(r)
        if pinned is not None:
            chain.note("pin", r, "request", pinned, f"pinned to {fmt(r, pinned)} by a /rightsize pin command")
            req, lim = float(pinned), (None if cur_lim is None else float(max(cur_lim, pinned)))
            values[("requests", r)], values[("limits", r)] = req, lim
            targets[("requests", r)], targets[("limits", r)] = req, lim
            untouched.add(f"pin:{r}")
            continue
        if usage is None:
            chain.note("percentile", r, "both", None, f"no {r} usage data: {r} left as it is")
            values[("requests", r)], values[("limits", r)] = cur_req, cur_lim
            targets[("requests", r)], targets[("limits", r)] = cur_req, cur_lim
            untouched.add(r)
            continue
        req = chain.request_target(r, usage, rp)
        lim = chain.limit_target(r, req, usage, rp, cur_lim)
        if lim is None and cur_lim is not None and rp.limit.mode != "none":
            lim = float(cur_lim)
        targets[("requests", r)], targets[("limits", r)] = req, lim

        # -- guards
        if r == "memory" and guards.restart and restarted and cur_req is not None:
            if req < cur_req or (lim is not None and cur_lim is not None and lim < cur_lim):
                req = max(req, float(cur_req))
                lim = None if lim is None else max(lim, float(cur_lim or 0))
                chain.note(
                    "restart guard", r, "both", req,
                    f"{container.restarts} restart(s), {container.oom_kills} OOM kill(s) in the window: memory not decreased",
                )
        if r == "memory" and container.oom_kills and guards.oom_bump_percent and cur_req is not None:
            bump = 1 + guards.oom_bump_percent / 100
            floor_req = cur_req * bump
            if req < floor_req:
                req = floor_req
                chain.note("OOM bump", r, "request", req, f"OOM-killed: request at least +{guards.oom_bump_percent:g}% → {fmt(r, req)}")
            if cur_lim is not None and lim is not None and lim < cur_lim * bump:
                lim = cur_lim * bump
                chain.note("OOM bump", r, "limit", lim, f"OOM-killed: limit at least +{guards.oom_bump_percent:g}% → {fmt(r, lim)}")
        if (
            r == "cpu" and guards.throttle_bump_percent and cur_lim is not None and lim is not None
            and (container.cpu_throttled_ratio or 0) > guards.throttle_threshold
            and lim < cur_lim * (1 + guards.throttle_bump_percent / 100)
        ):
            lim = cur_lim * (1 + guards.throttle_bump_percent / 100)
            chain.note(
                "throttle guard", r, "limit", lim,
                f"throttled in {container.cpu_throttled_ratio:.0%} of periods: limit +{guards.throttle_bump_percent:g}% → {fmt(r, lim)}",
            )
        if guards.no_downsize and cur_req is not None and (req < cur_req or (lim is not None and cur_lim is not None and lim < cur_lim)):
            req = max(req, float(cur_req))
            lim = None if lim is None else max(lim, float(cur_lim if cur_lim is not None else lim))
            chain.note("no-downsize", r, "both", req, "on the no-downsize list: may grow, never shrink")
        if r in hpa_resources:
            if policy.hpa == "skip":
                req, lim = (None if cur_req is None else float(cur_req)), (None if cur_lim is None else float(cur_lim))
                chain.note(
                    "HPA", r, "both", req,
                    f"HPA {hpa_name or ''} scales on {r} utilization: {r} kept (policy hpa: skip; a new request would move its target)".replace("  ", " "),
                )
                values[("requests", r)], values[("limits", r)] = req, lim
                untouched.add(r)
                continue
            chain.note("HPA", r, "both", req, f"HPA {hpa_name} scales on {r} utilization: changing the request moves its effective target (policy hpa: allow)")

        # -- max step and deadband
        stepped_req = _clamp_step(cur_req, req, rp)
        if stepped_req != req:
            chain.note("max step", r, "request", stepped_req, f"request moves at most −{rp.max_decrease_percent:g}% / +{rp.max_increase_percent:g}% per run → {fmt(r, stepped_req)}")
        stepped_lim = _clamp_step(cur_lim, lim, rp, limit=True)
        if stepped_lim != lim:
            down = rp.limit.max_decrease_percent if rp.limit.max_decrease_percent is not None else rp.max_decrease_percent
            chain.note("max step", r, "limit", stepped_lim, f"limit moves at most −{down:g}% / +{rp.max_increase_percent:g}% per run → {fmt(r, stepped_lim)}")
        req, lim = stepped_req, stepped_lim
        if _within_deadband(cur_req, req, rp):
            chain.note("deadband", r, "request", cur_req, f"request change {fmt(r, cur_req)} → {fmt(r, req)} is under the deadband: kept")
            req = float(cur_req)
        if _within_deadband(cur_lim, lim, rp):
            if cur_lim is not None and lim is not None and round(lim) != cur_lim:
                chain.note("deadband", r, "limit", cur_lim, f"limit change {fmt(r, cur_lim)} → {fmt(r, lim)} is under the deadband: kept")
            lim = float(cur_lim)
        values[("requests", r)], values[("limits", r)] = req, lim

    proposed = _finish(chain, current, values, policy)
    target = _finish(_Chain(container, policy, window_seconds), current, targets, policy)

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
    )


def _finish(chain: _Chain, current: ResourceSpec, values: dict[tuple[str, str], float | None], policy: ContainerPolicy) -> ResourceSpec:
    """Round, keep limit ≥ request and the QoS class, and drop requests that equal their implicit default."""
    out: dict[tuple[str, str], int | None] = {}
    for (kind, r), value in values.items():
        cur = current.get(kind, r) if kind == "limits" else current.effective_request(r)
        if value is None:
            out[(kind, r)] = None
        elif cur is not None and abs(value - cur) < 0.5:
            out[(kind, r)] = cur
        else:
            out[(kind, r)] = _round(r, value, policy.resource(r))
    guaranteed = policy.preserve_qos and current.qos == "Guaranteed"
    for r in RESOURCES:
        req, lim = out[("requests", r)], out[("limits", r)]
        if guaranteed and req is not None:
            if lim != req:
                chain.note("QoS", r, "limit", req, f"Guaranteed QoS kept: limit = request = {fmt(r, req)}")
            out[("limits", r)] = req
        elif req is not None and lim is not None and lim < req:
            chain.note("consistency", r, "limit", req, f"limit raised to the request {fmt(r, req)}")
            out[("limits", r)] = req
        # A request the file never set stays unset when it equals the limit it defaults to, or when nothing is known.
        if current.requests.get(r) is None:
            if current.limits.get(r) is not None and out[("requests", r)] == out[("limits", r)]:
                out[("requests", r)] = None
    return ResourceSpec(
        Resources(out[("requests", "cpu")], out[("requests", "memory")]),
        Resources(out[("limits", "cpu")], out[("limits", "memory")]),
    )


def _only_memory_increases(current: ResourceSpec, proposed: ResourceSpec) -> ResourceSpec:
    spec = current
    for kind in ("requests", "limits"):
        new, old = proposed.get(kind, "memory"), current.get(kind, "memory")
        if new is not None and (old is None or new > old):
            spec = spec.with_value(kind, "memory", new)
    return spec
