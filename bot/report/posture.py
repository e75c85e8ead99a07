"""Budget posture: each node's and the cluster's requests now, after this PR, and after every
pending recommendation (the PR's changes, those over the cap and the blocked ones).

The plan already carries "now" and "after this PR"; "after all pending" adds the full
wanted change of every pending decision to "now", pod by pod on the node each pod runs on
(the same arithmetic as the node fit, so the three columns agree). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.fit import placement, pod_request
from bot.engine.plan import BLOCKED, OVER_CAP, SELECTED, Decision, NodeReport, Plan

PENDING = (SELECTED, OVER_CAP, BLOCKED)
Vector = tuple[int, int]


@dataclass(frozen=True)
class Posture:
    name: str
    allocatable: Vector
    budget: Vector
    now: Vector
    after_pr: Vector
    after_pending: Vector

    def percent(self, which: str, resource: int) -> float:
        """Requests as % of allocatable (0 when the node reports none)."""
        value = getattr(self, which)[resource]
        return 100.0 * value / self.allocatable[resource] if self.allocatable[resource] else 0.0

    def budget_percent(self, resource: int) -> float:
        return 100.0 * self.budget[resource] / self.allocatable[resource] if self.allocatable[resource] else 0.0


def _vec(r) -> Vector:
    return (r.cpu or 0, r.memory or 0)


def _pending_delta(d: Decision) -> dict[str, Vector]:
    """What the decision's full wanted change adds (or frees) per node."""
    rec = d.recommendation
    if rec is None:
        return {}
    wanted = d.wanted or rec.proposed
    w = d.workload
    specs = {c.name: c.resources for c in w.containers}
    old = pod_request(w, {**specs, d.container: rec.current})
    new = pod_request(w, {**specs, d.container: wanted})
    return {node: ((new[0] - old[0]) * k, (new[1] - old[1]) * k) for node, k in placement(w).items()}


def postures(plan: Plan) -> tuple[list[Posture], Posture]:
    """(per node, cluster)."""
    extra: dict[str, list[int]] = {}
    for d in plan.decisions:
        if d.status in PENDING:
            for node, (cpu, mem) in _pending_delta(d).items():
                acc = extra.setdefault(node, [0, 0])
                acc[0] += cpu
                acc[1] += mem

    def one(n: NodeReport, add: Vector) -> Posture:
        now = _vec(n.before)
        return Posture(n.name, _vec(n.allocatable), _vec(n.budget), now, _vec(n.after),
                       (now[0] + add[0], now[1] + add[1]))

    nodes = [one(n, tuple(extra.get(n.name, (0, 0)))) for n in plan.nodes]
    known = {n.name for n in plan.nodes}
    total = [sum(v[i] for node, v in extra.items() if node in known) for i in (0, 1)]
    return nodes, one(plan.cluster, (total[0], total[1]))
