"""report.json: every container's decision with its numbers and rationale, plus node projections."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any, Iterator, Sequence

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


class _DecisionDict(dict):
    __slots__ = ("__weakref__",)


class DecisionDicts(Sequence):
    """report["decisions"]: each decision's dict is made when it is read (written to report.json, most often), so
    a 20,000-container report does not hold every decision twice, once in the plan and once as dicts (100 MB).
    While a reader holds a decision's dict, reading it again gives that same dict (as from a list).
    json.dumps needs ``default=list`` for it, as write_report passes."""

    def __init__(self, decisions: Sequence[Decision]):
        self._decisions = decisions
        self._alive: weakref.WeakValueDictionary[int, _DecisionDict] = weakref.WeakValueDictionary()

    def __len__(self) -> int:
        return len(self._decisions)

    def _at(self, k: int) -> dict[str, Any]:
        made = self._alive.get(k)
        if made is None:
            made = self._alive[k] = _DecisionDict(decision_dict(self._decisions[k]))
        return made

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._at(k) for k in range(len(self))[i]]
        return self._at(range(len(self))[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._at(k) for k in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


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
        "decisions": DecisionDicts(plan.decisions),
    }
    if plan.unknown_nodes:
        out["unknownNodes"] = list(plan.unknown_nodes)
    if plan.quotas:
        out["quotas"] = [{"namespace": q.namespace, "name": q.name, "key": q.key, "hard": q.hard, "before": q.before, "after": q.after}
                         for q in plan.quotas]
    if extra:
        out.update(extra)
    return out


INDENT_UP_TO = 2000  # decisions; above this report.json is written compact
_COMPACT = (",", ":")


def write_report(report: dict[str, Any], path: Path) -> None:
    """report.json: indented for people while it is small; compact above INDENT_UP_TO decisions, where nobody reads
    it by eye. Compact uses the C encoder (the indenting one is pure Python, 4× slower) one decision at a time, so
    the whole file never sits in memory as one string: the text is exactly json.dumps(report, separators=(",", ":"))."""
    import json

    decisions = report.get("decisions", ())
    with open(path, "w", encoding="utf-8") as f:
        if len(decisions) <= INDENT_UP_TO:
            f.write(json.dumps(report, indent=2, default=list) + "\n")
            return
        f.write("{")
        for n, (key, value) in enumerate(report.items()):
            f.write(("," if n else "") + json.dumps(key) + ":")
            if key != "decisions":
                f.write(json.dumps(value, separators=_COMPACT, default=list))
                continue
            f.write("[")
            for k, d in enumerate(value):
                f.write(("," if k else "") + json.dumps(d, separators=_COMPACT))
            f.write("]")
        f.write("}\n")


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
