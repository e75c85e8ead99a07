"""Cluster-aware guards: what the cluster allows, next to what the usage says.

Each guard is a small pure step that leaves one line of rationale (docs/policy.md, "Cluster guards"):

  before sizing (the container is skipped, with what to change):
    opt_out          annotation or label ``rightsizer.io/skip: "true"`` on the workload
    vpa_conflict     a VPA in Auto / Recreate / InPlaceOrRecreate / Initial mode sets the same resources
    not_ready        the workload's HelmRelease or Kustomization is not Ready, or a rollout is under way
  after sizing (the numbers change, and say so):
    keep_resources   ``rightsizer.io/skip: "memory"`` (or "cpu"), or policy ``skip: [memory]``: that resource kept
    clamp_to_limit_ranges   LimitRange min/max and maxLimitRequestRatio (a request is lifted to keep the ratio)
    vpa_opinion      a VPA in Off mode: its target shown next to ours
  in selection: a namespace's ResourceQuota headroom is a budget (bot.engine.quota).

The HPA rule lives in the estimator chain (bot.engine.recommend, policy ``hpa``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil
from typing import Mapping

from bot.engine.recommend import ContainerRecommendation, Step, fmt
from bot.model import RESOURCES, FluxStatus, LimitRange, LimitRangeItem, ResourceSpec, Snapshot, Vpa, Workload

SKIP_KEY = "rightsizer.io/skip"
ACTIVE_VPA_MODES = ("Auto", "Recreate", "InPlaceOrRecreate", "Initial")
FIELD = {"requests": "request", "limits": "limit"}


@dataclass(frozen=True)
class ClusterFacts:
    """The snapshot's cluster objects, indexed the way the guards look them up."""

    limit_ranges: Mapping[str, tuple[LimitRange, ...]] = field(default_factory=dict)  # namespace →
    vpas: Mapping[tuple[str, str, str], Vpa] = field(default_factory=dict)  # (namespace, kind, name) of the target →
    flux: Mapping[tuple[str, str, str], FluxStatus] = field(default_factory=dict)  # (kind, namespace, name) →

    @classmethod
    def of(cls, snapshot: Snapshot) -> "ClusterFacts":
        ranges: dict[str, list[LimitRange]] = {}
        for lr in sorted(snapshot.limit_ranges, key=lambda lr: (lr.namespace, lr.name)):
            ranges.setdefault(lr.namespace, []).append(lr)
        return cls(
            limit_ranges={ns: tuple(v) for ns, v in ranges.items()},
            vpas={(v.namespace, v.target_kind, v.target_name): v for v in sorted(snapshot.vpas, key=lambda v: v.name)},
            flux={(f.kind, f.namespace, f.name): f for f in snapshot.flux},
        )


NO_FACTS = ClusterFacts()


# --- before sizing -------------------------------------------------------------------

def opt_out(workload: Workload) -> tuple[tuple[str, ...], str] | None:
    """The resources the workload opts out of and where it says so, from ``rightsizer.io/skip``
    ("true": both; "cpu", "memory" or "cpu,memory"), the annotation before the label."""
    for where, values in (("annotation", workload.annotations), ("label", workload.labels)):
        raw = values.get(SKIP_KEY)
        if raw is None:
            continue
        words = {w.strip().lower() for w in raw.split(",") if w.strip()}
        resources = RESOURCES if "true" in words else tuple(r for r in RESOURCES if r in words)
        if resources:
            return resources, f'{where} {SKIP_KEY}: "{raw}" on the {workload.kind}'
    return None


def vpa_conflict(workload: Workload, container: str, facts: ClusterFacts) -> str | None:
    vpa = facts.vpas.get(workload.key)
    if vpa is None or vpa.mode not in ACTIVE_VPA_MODES:
        return None
    own = vpa.container(container)
    if own is not None and own.mode == "Off":
        return None  # the VPA leaves this container alone
    return (f"VPA {vpa.namespace}/{vpa.name} (updateMode {vpa.mode}) also sets this container's resources: skipped so the "
            f"two do not fight. Set its updateMode (or this container's mode) to Off to let Rightsizer size it")


def not_ready(workload: Workload, facts: ClusterFacts) -> str | None:
    """A Flux object that applies the workload and is not Ready, or a rollout under way: its pods and files are in flux."""
    refs = []
    if workload.helm_release:
        refs.append(("HelmRelease", workload.helm_release.namespace, workload.helm_release.name))
    if workload.kustomization:
        refs.append(("Kustomization", workload.kustomization.namespace, workload.kustomization.name))
    for ref in refs:
        status = facts.flux.get(ref)
        if status is not None and status.ready != "True":
            why = ": ".join(p for p in (status.reason, status.message[:200]) if p) or f"Ready={status.ready}"
            return f"{ref[0]} {ref[1]}/{ref[2]} is not Ready ({why}): try again next run, once Flux reconciles it"
    ro = workload.rollout
    if ro is not None and ro.in_progress:
        state = (f"{ro.updated} of {ro.desired} pods updated, {ro.ready} ready"
                 + ("" if ro.generation_observed else ", new spec not yet observed")
                 + ("" if ro.revision_current else ", revision changing"))
        return f"{workload.kind} rollout in progress ({state}): try again next run"
    return None


def gate(workload: Workload, container: str, facts: ClusterFacts) -> tuple[str, str] | None:
    """Which guard says not to size this container now, and why with what to change; None when it may be sized."""
    out = opt_out(workload)
    if out is not None and out[0] == RESOURCES:
        return "opt-out", f"opted out by the {out[1]}: remove it to let Rightsizer size this workload"
    for name, reason in (("VPA", vpa_conflict(workload, container, facts)), ("readiness", not_ready(workload, facts))):
        if reason:
            return name, reason
    return None


# --- after sizing --------------------------------------------------------------------

def _step(name: str, r: str, field_: str, value: float | None, text: str) -> Step:
    return Step(name, r, field_, None if value is None else float(value), text)


def keep_resources(rec: ContainerRecommendation, resources: tuple[str, ...], why: str) -> ContainerRecommendation:
    """The resources a workload or policy opts out of keep their current values (request and limit)."""
    proposed, target, steps = rec.proposed, rec.target, list(rec.steps)
    for r in resources:
        for kind in ("requests", "limits"):
            proposed = proposed.with_value(kind, r, rec.current.get(kind, r))
            target = target.with_value(kind, r, rec.current.get(kind, r))
        steps.append(_step("opt-out", r, "both", rec.current.effective_request(r), f"{r} kept: opted out by the {why}"))
    return replace(rec, proposed=proposed, target=target, steps=tuple(steps),
                   urgent=rec.urgent and "memory" not in resources,  # urgency is a memory upsize
                   warnings=rec.warnings if proposed != rec.current else ())


@dataclass
class _Bounds:
    """The values one LimitRange item allows for one container's resource."""

    req_min: int | None = None
    req_max: int | None = None
    lim_min: int | None = None
    lim_max: int | None = None
    ratio: float | None = None
    other_req: int = 0  # the rest of the pod, for a Pod item
    other_lim: int = 0


def _bounds(item: LimitRangeItem, r: str, others: tuple[ResourceSpec, ...]) -> _Bounds:
    lo, hi, ratio = item.min.get(r), item.max.get(r), item.max_ratio.get(r)
    if item.type == "Pod":
        other_req = sum(s.effective_request(r) for s in others)
        other_lim = sum(s.limits.get(r) or 0 for s in others)
        return _Bounds(None, None if hi is None else hi - other_req, None, None if hi is None else hi - other_lim,
                       ratio, other_req, other_lim)
    return _Bounds(lo, hi, lo, hi, ratio)


def _clamp_spec(spec: ResourceSpec, r: str, b: _Bounds, default_limit: int | None) -> tuple[ResourceSpec, list[tuple[str, int, str]]]:
    """``spec`` inside the bounds, and (field, value, what) for each value moved."""
    moved: list[tuple[str, int, str]] = []
    req, lim = spec.requests.get(r), spec.limits.get(r)
    if lim is not None and b.lim_max is not None and lim > b.lim_max:
        lim = b.lim_max
        moved.append(("limits", lim, "capped at the max"))
    if req is not None and b.req_max is not None and req > b.req_max:
        req = b.req_max
        moved.append(("requests", req, "capped at the max"))
    if req is not None and b.req_min is not None and req < b.req_min:
        req = b.req_min
        moved.append(("requests", req, "raised to the min"))
    if lim is not None and b.lim_min is not None and lim < b.lim_min:
        lim = b.lim_min
        moved.append(("limits", lim, "raised to the min"))
    effective_lim = lim if lim is not None else default_limit  # admission adds the default limit
    if b.ratio and req is not None and effective_lim is not None and effective_lim + b.other_lim > b.ratio * (req + b.other_req):
        req = int(ceil((effective_lim + b.other_lim) / b.ratio - b.other_req - 1e-9))
        moved.append(("requests", req, f"lifted to keep limit ÷ request ≤ maxLimitRequestRatio {b.ratio:g}"))
    if req is not None and lim is not None and req > lim:
        lim = req
        moved.append(("limits", lim, "raised to the request"))
    return spec.with_value("requests", r, req).with_value("limits", r, lim), moved


def _within(spec: ResourceSpec, ranges: tuple[LimitRange, ...], others: tuple[ResourceSpec, ...],
            notes: list[tuple[str, str, int, str]] | None) -> ResourceSpec:
    for lr in ranges:
        for item in lr.items:
            if item.type not in ("Container", "Pod"):
                continue
            for r in RESOURCES:
                default = item.default.get(r) if item.type == "Container" else None
                spec, moved = _clamp_spec(spec, r, _bounds(item, r, others), default)
                if notes is not None:
                    notes += [(r, kind, value, f"LimitRange {lr.namespace}/{lr.name} ({item.type}): {FIELD[kind]} {what} → {fmt(r, value)}")
                              for kind, value, what in moved]
    return spec


def clamp_to_limit_ranges(rec: ContainerRecommendation, workload: Workload, ranges: tuple[LimitRange, ...]) -> ContainerRecommendation:
    """The proposal and its long-run target within the namespace's LimitRanges, or the API server rejects the pods.

    Container items bound each value; Pod items bound the pod's sum (the other app containers at their current values).
    """
    if not ranges:
        return rec
    this = workload.container(rec.container)
    others = tuple(c.resources for c in workload.containers if c.name != rec.container and not c.init) if this and not this.init else ()
    notes: list[tuple[str, str, int, str]] = []
    proposed = _within(rec.proposed, ranges, others, notes)
    if proposed == rec.proposed:
        return rec
    target = _within(rec.target, ranges, others, None)
    steps = list(rec.steps) + [_step("LimitRange", r, FIELD[kind], value, text) for r, kind, value, text in notes]
    return replace(rec, proposed=proposed, target=target, steps=tuple(steps))


def vpa_opinion(rec: ContainerRecommendation, workload: Workload, facts: ClusterFacts) -> ContainerRecommendation:
    """A VPA that only recommends (Off mode, or Off for this container): its target next to our request."""
    vpa = facts.vpas.get(workload.key)
    own = vpa.container(rec.container) if vpa else None
    if vpa is None or own is None or own.target.is_empty():
        return rec
    mode = "Off" if vpa.mode == "Off" else f"{vpa.mode}, Off for this container"
    steps = list(rec.steps)
    for r in RESOURCES:
        theirs = own.target.get(r)
        if theirs is not None:
            ours = rec.proposed.requests.get(r)
            steps.append(_step("VPA", r, "request", theirs,
                               f"second opinion: VPA {vpa.namespace}/{vpa.name} (updateMode {mode}) recommends {fmt(r, theirs)}; "
                               f"this PR's request is {fmt(r, ours)}"))
    return replace(rec, steps=tuple(steps))


def shape(rec: ContainerRecommendation, workload: Workload, skip: tuple[str, ...], facts: ClusterFacts) -> ContainerRecommendation:
    """The after-sizing guards in order: opt-out per resource, LimitRange bounds, the VPA's second opinion."""
    out = opt_out(workload)
    if out is not None:
        rec = keep_resources(rec, out[0], out[1])
    policy_skip = tuple(r for r in skip if out is None or r not in out[0])
    if policy_skip:
        rec = keep_resources(rec, policy_skip, "policy (skip: " + ", ".join(policy_skip) + ")")
    if not rec.blocked:
        rec = clamp_to_limit_ranges(rec, workload, facts.limit_ranges.get(workload.namespace, ()))
    return vpa_opinion(rec, workload, facts)


def held_by_guard(before: ContainerRecommendation, after: ContainerRecommendation) -> tuple[str, str] | None:
    """When the guards undid every change the numbers asked for: which (the last) and why, for the Skipped section."""
    if after.changed or not before.changed:
        return None
    added = [s for s in after.steps[len(before.steps):] if s.name in ("opt-out", "LimitRange")]
    if not added:
        return None
    return added[-1].name, "; ".join(dict.fromkeys(s.text for s in added))


def guards_of(steps: tuple[Step, ...]) -> tuple[str, ...]:
    """The guards that shaped a recommendation, by step name."""
    return tuple(dict.fromkeys(s.name for s in steps if s.name in SHAPING))


SHAPING = ("opt-out", "LimitRange", "VPA")
