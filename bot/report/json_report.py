"""report.json: every container's decision with its numbers and rationale, plus node projections."""

from __future__ import annotations

from typing import Any

from bot import __version__
from bot.engine.guards import guards_of
from bot.engine.plan import STATUSES, Decision, NodeReport, Plan
from bot.model import Resources, ResourceSpec


def _res(r: Resources) -> dict[str, int | None]:
    return {"cpu": r.cpu, "memory": r.memory}


def _spec(s: ResourceSpec) -> dict[str, Any]:
    return {"requests": _res(s.requests), "limits": _res(s.limits)}


def _node(n: NodeReport) -> dict[str, Any]:
    return {
        "name": n.name,
        "allocatable": _res(n.allocatable),
        "budget": _res(n.budget),
        "before": _res(n.before),
        "after": _res(n.after),
    }


def nodes_dicts(nodes) -> list[dict[str, Any]]:
    return [_node(n) for n in nodes]


def _block(b) -> dict[str, Any]:
    return {
        "heldBack": list(b.held),
        "shortfalls": [
            {"node": s.node, "resource": s.resource, "used": s.used, "budget": s.budget, "allocatable": s.allocatable,
             "short": s.short, "budgetPercentNeeded": s.budget_percent_needed, **({"quotaKey": s.quota_key} if s.quota_key else {})}
            for s in b.shortfalls
        ],
        "fitsOn": b.fits_on,
        "tradeoffs": [{"ref": t.key, "node": t.node, "resource": t.resource, "frees": t.frees} for t in b.tradeoffs],
    }


def decision_dict(d: Decision) -> dict[str, Any]:
    w = d.workload
    out: dict[str, Any] = {
        "ref": d.key,
        "kind": w.kind,
        "namespace": w.namespace,
        "workload": w.name,
        "container": d.container,
        "init": d.init,
        "status": d.status,
        "reason": d.reason,
        "notes": list(d.notes),
        "policyLayers": list(d.policy.layers),
        "mode": d.policy.mode,
        "pods": [{"name": p.name, "node": p.node} for p in w.pods],
    }
    c = w.container(d.container)
    if c is not None:
        out["sidecar"] = c.sidecar
        out["current"] = _spec(c.resources)
    if w.helm_release:
        out["helmRelease"] = {"name": w.helm_release.name, "namespace": w.helm_release.namespace}
    if d.wanted is not None:
        out["wanted"] = _spec(d.wanted)
    if d.block is not None:
        out["block"] = _block(d.block)
    rec = d.recommendation
    acted = ([d.guard] if d.guard else []) + list(guards_of(rec.steps) if rec else ())
    if d.block is not None and any(s.quota_key for s in d.block.shortfalls):
        acted.append("ResourceQuota")
    out["guards"] = list(dict.fromkeys(acted))  # the cluster guards that skipped or shaped it (docs/policy.md)
    if rec:
        out["current"] = _spec(rec.current)
        out["proposed"] = _spec(rec.proposed)
        out["target"] = _spec(rec.target)
        out["urgent"] = rec.urgent
        out["warnings"] = list(rec.warnings)
        out["steps"] = [
            {"step": s.name, "resource": s.resource, "field": s.field, "value": s.value, "text": s.text}
            for s in rec.steps
        ]
    return out


def report_dict(plan: Plan, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    counts = {s: len(plan.by_status(s)) for s in STATUSES}
    out = {
        "version": 1,
        "generator": f"rightsizer {__version__}",
        "units": {"cpu": "millicores", "memory": "bytes", "durations": "seconds"},
        "collectedAt": plan.collected_at,
        "window": plan.window,
        "policy": plan.policy_source,
        "maxChanges": plan.max_changes,
        "counts": counts,
        "cluster": _node(plan.cluster),
        "nodes": nodes_dicts(plan.nodes),
        "decisions": [decision_dict(d) for d in plan.decisions],
    }
    if plan.unknown_nodes:
        out["unknownNodes"] = list(plan.unknown_nodes)
    if plan.quotas:
        out["quotas"] = [{"namespace": q.namespace, "name": q.name, "key": q.key, "hard": q.hard, "before": q.before, "after": q.after}
                         for q in plan.quotas]
    if extra:
        out.update(extra)
    return out


def pool_dict(p) -> dict[str, Any]:
    """A node-pool proposal as data: counts, trigger, reasons, placements and the projected nodes."""
    return {
        "pool": p.pool.name,
        "file": p.pool.file,
        "variable": p.pool.variable,
        "current": p.current,
        "proposed": p.proposed,
        "trigger": p.trigger,
        "reasons": list(p.reasons),
        "heldBack": p.held_back,
        "placements": [{"pod": pl.pod, "node": pl.node} for pl in p.placements],
        "nodes": [
            {"name": n.name, "allocatable": {"cpu": n.allocatable[0], "memory": n.allocatable[1]},
             "budget": {"cpu": n.budget[0], "memory": n.budget[1]}, "used": {"cpu": n.used[0], "memory": n.used[1]},
             "new": n.new, "removed": n.removed}
            for n in p.nodes
        ],
        "removedNode": p.removed_node,
        "monthlyCostChange": p.monthly_cost_change,
    }
