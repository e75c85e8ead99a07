"""Selection: which candidate changes go into this PR, given node fit and the change cap.

Order: restart/OOM-guarded upsizes, then other upsizes (most under-provisioned
first), then downsizes (largest savings first); names break ties, so the same
input always gives the same PR. An upsize that would break a budget may pull
in downsizes that free exactly that room (same node first); if nothing does,
it is blocked with a note saying what would make it fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil
from typing import Mapping, Sequence

from bot.engine.fit import NodeLimits, Projection, Vector, pod_request, placement
from bot.engine.recommend import ContainerRecommendation, fmt
from bot.model import Node, ResourceSpec, Workload

RES_NAMES = ("cpu", "memory")


@dataclass
class Candidate:
    key: str  # namespace/workload/container, unique within a snapshot
    workload: Workload
    container: str
    rec: ContainerRecommendation
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    selected: tuple[str, ...]  # candidate keys, in selection order
    adjusted: Mapping[str, ResourceSpec]  # selected with part of the change held back to fit
    blocked: Mapping[str, str]  # key → why it does not fit, and what would
    over_cap: tuple[str, ...]
    notes: Mapping[str, tuple[str, ...]]
    before: Mapping[str, Vector]
    after: Mapping[str, Vector]
    cluster_before: Vector
    cluster_after: Vector
    unknown_nodes: tuple[str, ...] = ()


class _Workspace:
    """Current specs per workload and the projection they produce."""

    def __init__(self, workloads: Sequence[Workload], projection: Projection):
        self.projection = projection
        self.specs: dict[tuple, dict[str, ResourceSpec]] = {}
        self.place: dict[tuple, dict[str, int]] = {}
        for w in workloads:
            specs = {c.name: c.resources for c in w.containers}
            self.specs[w.key] = specs
            self.place[w.key] = dict(placement(w))
            per_pod = pod_request(w, specs)
            projection.add({n: (per_pod[0] * k, per_pod[1] * k) for n, k in self.place[w.key].items()})

    def delta(self, cand: Candidate, spec: ResourceSpec | None = None) -> dict[str, Vector]:
        w = cand.workload
        specs = self.specs[w.key]
        old = pod_request(w, specs)
        new = pod_request(w, {**specs, cand.container: spec or cand.rec.proposed})
        d = (new[0] - old[0], new[1] - old[1])
        return {n: (d[0] * k, d[1] * k) for n, k in self.place[w.key].items()}

    def apply(self, cand: Candidate) -> dict[str, Vector]:
        deltas = self.delta(cand)
        self.projection.add(deltas)
        self.specs[cand.workload.key][cand.container] = cand.rec.proposed
        return deltas

    def undo(self, cand: Candidate, deltas: Mapping[str, Vector]) -> None:
        self.projection.add(deltas, sign=-1)
        self.specs[cand.workload.key][cand.container] = cand.rec.current


def _is_upsize(cand: Candidate) -> bool:
    cur, new = cand.rec.current, cand.rec.proposed
    return any(new.effective_request(r) > cur.effective_request(r) for r in RES_NAMES)


def _pressure(cand: Candidate) -> float:
    cur, target = cand.rec.current, cand.rec.target
    ratios = [target.effective_request(r) / cur.effective_request(r) for r in RES_NAMES if cur.effective_request(r) > 0]
    return max(ratios, default=float("inf"))


def _savings(cand: Candidate, cluster_alloc: Vector) -> float:
    cur, new = cand.rec.current, cand.rec.proposed
    pods = max(1, len(cand.workload.pods))
    return sum(
        pods * (cur.effective_request(r) - new.effective_request(r)) / cluster_alloc[i]
        for i, r in enumerate(RES_NAMES)
        if cluster_alloc[i]
    )


class _RoomIndex:
    """How much each remaining downsize frees, per node and in total, kept current as changes are taken.

    Lets a blocked upsize be rejected in O(1) when the remaining downsizes cannot
    free enough, and limits the greedy search to downsizes on the nodes that need room.
    """

    def __init__(self, ws: _Workspace, downsizes: Sequence[Candidate]):
        self.ws = ws
        self.cands: dict[str, Candidate] = {}
        self.deltas: dict[str, dict[str, Vector]] = {}
        self.by_node: dict[str, set[str]] = {}
        self.by_workload: dict[tuple, set[str]] = {}
        self.free_node: dict[tuple[str, int], int] = {}
        self.free_total = [0, 0]
        for c in downsizes:
            self.cands[c.key] = c
            self.by_workload.setdefault(c.workload.key, set()).add(c.key)
            self._add(c)

    def _add(self, c: Candidate) -> None:
        deltas = self.ws.delta(c)
        self.deltas[c.key] = deltas
        for node, d in deltas.items():
            self.by_node.setdefault(node, set()).add(c.key)
            for i in (0, 1):
                if d[i] < 0:
                    self.free_node[(node, i)] = self.free_node.get((node, i), 0) - d[i]
                    self.free_total[i] -= d[i]

    def _drop(self, key: str) -> None:
        for node, d in self.deltas.pop(key).items():
            self.by_node[node].discard(key)
            for i in (0, 1):
                if d[i] < 0:
                    self.free_node[(node, i)] += d[i]
                    self.free_total[i] += d[i]

    def take(self, key: str) -> None:
        if key in self.deltas:
            self._drop(key)
            self.by_workload[self.cands[key].workload.key].discard(key)

    def workload_changed(self, workload_key: tuple) -> None:
        """Another container of the workload changed: its siblings' deltas (max over init containers) may too."""
        for key in list(self.by_workload.get(workload_key, ())):
            self._drop(key)
            self._add(self.cands[key])

    def could_cover(self, need: Mapping[tuple[str, int], int]) -> bool:
        for (node, i), amount in need.items():
            have = self.free_total[i] if node == "*" else self.free_node.get((node, i), 0)
            if have < amount:
                return False
        return True

    def pool_for(self, need: Mapping[tuple[str, int], int]) -> list[Candidate]:
        if any(node == "*" for node, _ in need):
            keys = set(self.deltas)
        else:
            keys = set().union(*(self.by_node.get(node, set()) for node, _ in need))
        return [self.cands[k] for k in sorted(keys)]


def select(
    candidates: Sequence[Candidate],
    workloads: Sequence[Workload],
    nodes: Sequence[Node],
    limits: Mapping[str, NodeLimits],
    projection: Projection,
    max_changes: int,
    include: frozenset[str] = frozenset(),
) -> Selection:
    """``include``: candidate keys a person asked for; each gets a slot beyond ``max_changes``
    and goes first in its group (it still has to fit)."""
    ws = _Workspace(workloads, projection)
    before = projection.snapshot()
    cluster_before = (projection.total[0], projection.total[1])

    upsizes = [c for c in candidates if _is_upsize(c)]
    downsizes = [c for c in candidates if not _is_upsize(c)]
    upsizes.sort(key=lambda c: (c.key not in include, not c.rec.urgent, -_pressure(c), c.key))
    downsizes.sort(key=lambda c: (c.key not in include, -_savings(c, projection.cluster_alloc), c.key))
    included_down = {c.key for c in downsizes if c.key in include}
    max_changes += sum(1 for c in candidates if c.key in include)
    rank = {c.key: i for i, c in enumerate(downsizes)}
    room = _RoomIndex(ws, downsizes)

    selected: list[str] = []
    adjusted: dict[str, ResourceSpec] = {}
    blocked: dict[str, str] = {}
    taken: set[str] = set()
    notes: dict[str, list[str]] = {c.key: list(c.notes) for c in candidates}

    def slots() -> int:
        # Included downsizes keep their reserved slots while the upsizes are chosen.
        return max_changes - len(selected) - len(included_down - taken)

    def take(c: Candidate) -> None:
        taken.add(c.key)
        room.take(c.key)
        room.workload_changed(c.workload.key)

    for up in upsizes:
        if slots() <= 0:
            break
        deltas = ws.apply(up)
        over = projection.overages(deltas)
        if not over:
            selected.append(up.key)
            take(up)
            continue
        helpers = None
        if slots() > 1 and room.could_cover(over):
            pool = sorted(room.pool_for(over), key=lambda c: rank[c.key])
            helpers = _make_room(ws, room, over, pool, slots() - 1)
        if helpers is not None:
            for h in helpers:
                notes[h.key].append(f"selected to make room for {up.key}")
            selected.append(up.key)
            selected.extend(h.key for h in helpers)
            take(up)
            for h in helpers:
                take(h)
            notes[up.key].append("fits after " + ", ".join(h.key for h in helpers))
            continue
        ws.undo(up, deltas)
        partial = _hold_back(up, over)
        if partial is not None:
            part_deltas = ws.apply(partial)
            if not projection.overages(part_deltas):
                held = sorted({RES_NAMES[i] for _, i in over})
                notes[up.key].append(
                    f"{' and '.join(held)} part held back: " + _explain_block(ws, up, deltas, over, nodes, limits, applied=part_deltas)
                )
                adjusted[up.key] = partial.rec.proposed
                selected.append(up.key)
                take(up)
                continue
            ws.undo(partial, part_deltas)
        blocked[up.key] = _explain_block(ws, up, deltas, over, nodes, limits)

    for down in downsizes:
        if down.key in taken:
            continue
        if slots() + (down.key in included_down) <= 0:
            break
        ws.apply(down)
        selected.append(down.key)
        take(down)

    over_cap = tuple(c.key for c in upsizes + downsizes if c.key not in taken and c.key not in blocked)
    for key in include & taken:
        notes[key].append("included beyond the cap at a writer's request (dashboard issue)")
    return Selection(
        selected=tuple(selected),
        adjusted=adjusted,
        blocked=blocked,
        over_cap=over_cap,
        notes={k: tuple(v) for k, v in notes.items()},
        before=before,
        after=projection.snapshot(),
        cluster_before=cluster_before,
        cluster_after=(projection.total[0], projection.total[1]),
        unknown_nodes=tuple(sorted(projection.unknown_nodes)),
    )


def _hold_back(up: Candidate, over: Mapping[tuple[str, int], int]) -> Candidate | None:
    """The same change without the resources that do not fit (an OOM fix should not wait for CPU room)."""
    spec = up.rec.proposed
    for _, i in over:
        r = RES_NAMES[i]
        for kind in ("requests", "limits"):
            spec = spec.with_value(kind, r, up.rec.current.get(kind, r))
    if spec == up.rec.current or not any(spec.effective_request(r) != up.rec.current.effective_request(r) or
                                         spec.limits.get(r) != up.rec.current.limits.get(r) for r in RES_NAMES):
        return None
    return Candidate(up.key, up.workload, up.container, replace(up.rec, proposed=spec), up.notes)


def _freed(deltas: Mapping[str, Vector], node: str, i: int) -> int:
    return -sum(d[i] for d in deltas.values()) if node == "*" else -deltas.get(node, (0, 0))[i]


def _make_room(ws: _Workspace, room: _RoomIndex, over: dict[tuple[str, int], int], pool: list[Candidate], budget: int) -> list[Candidate] | None:
    """Greedily add downsizes that cut the specific overruns; undo them all if they cannot."""
    need = dict(over)
    chosen: list[tuple[Candidate, dict[str, Vector]]] = []
    remaining = list(pool)
    while any(v > 0 for v in need.values()) and len(chosen) < budget and remaining:
        best, best_score = None, 0.0
        for cand in remaining:
            deltas = room.deltas[cand.key]
            score = 0.0
            for (node, i), amount in need.items():
                freed = _freed(deltas, node, i) if amount > 0 else 0
                if freed > 0:
                    # Same-node relief counts double: cluster-wide slack does not schedule a pod.
                    score += min(freed, amount) / amount * (2.0 if node != "*" else 1.0)
            if score > best_score:
                best, best_score = cand, score
        if best is None:
            break
        remaining.remove(best)
        deltas = ws.apply(best)
        chosen.append((best, deltas))
        for key in need:
            need[key] -= _freed(deltas, *key)
    if all(v <= 0 for v in need.values()):
        return [c for c, _ in chosen]
    for cand, deltas in reversed(chosen):
        ws.undo(cand, deltas)
    return None


def _explain_block(
    ws: _Workspace, up: Candidate, deltas: Mapping[str, Vector], over: Mapping[tuple[str, int], int],
    nodes: Sequence[Node], limits: Mapping[str, NodeLimits], applied: Mapping[str, Vector] | None = None,
) -> str:
    """Why the full change does not fit and what would make it; ``applied`` is a partial change already in the projection."""
    proj = ws.projection
    if applied:
        deltas = {n: (d[0] - applied.get(n, (0, 0))[0], d[1] - applied.get(n, (0, 0))[1]) for n, d in deltas.items()}
    parts = []
    for (node, i), amount in sorted(over.items()):
        r = RES_NAMES[i]
        if node == "*":
            parts.append(
                f"cluster {r} would be {fmt(r, proj.total[i] + sum(d[i] for d in deltas.values()))} "
                f"against a budget of {fmt(r, proj.cluster_budget[i])}: {fmt(r, amount)} short"
            )
        else:
            lim = limits[node]
            used = proj.used[node][i] + deltas.get(node, (0, 0))[i]
            pct_needed = ceil(100 * used / lim.allocatable[i]) if lim.allocatable[i] else 0
            parts.append(
                f"{node} {r} would be {fmt(r, used)} against a budget of {fmt(r, lim.budget[i])} "
                f"({fmt(r, amount)} short; the node budget would have to be {pct_needed}%)"
            )
    hints = []
    w = up.workload
    if len(w.pods) == 1 and not w.is_daemonset:
        per_pod = pod_request(w, {**ws.specs[w.key], up.container: up.rec.proposed})
        current_node = w.pods[0].node
        for n in nodes:
            if n.name == current_node or n.name not in proj.used:
                continue
            room = [limits[n.name].budget[i] - proj.used[n.name][i] for i in (0, 1)]
            if all(per_pod[i] <= room[i] for i in (0, 1)) and n.admits(w.node_selector, w.tolerations):
                hints.append(f"it would fit on {n.name}")
                break
    hints.append("free room with downsizes on that node, raise the budget, or add a node")
    return "; ".join(parts) + ". " + "; ".join(hints).capitalize() + "."
