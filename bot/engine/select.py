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
from bot.engine.quota import QuotaBook
from bot.engine.recommend import ContainerRecommendation, fmt
from bot.model import Node, ResourceSpec, Workload

RES_NAMES = ("cpu", "memory")


@dataclass
class Candidate:
    key: str  # kind/namespace/workload/container: unique within a snapshot (names repeat across kinds)
    workload: Workload
    container: str
    rec: ContainerRecommendation
    notes: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """namespace/workload/container, as people name it."""
        return f"{self.workload.namespace}/{self.workload.name}/{self.container}"


@dataclass(frozen=True)
class Shortfall:
    """A budget one change would break, measured on this PR's final projection (the node table's "after")."""

    node: str  # a node name, "cluster", or "quota <namespace>/<name>"
    resource: str
    used: int  # requests after this PR plus the rest of this change
    budget: int
    allocatable: int
    quota_key: str | None = None  # a ResourceQuota's key (requests.memory, limits.cpu, …): budget is its hard value

    @property
    def short(self) -> int:
        return self.used - self.budget

    @property
    def budget_percent_needed(self) -> int:
        return ceil(100 * self.used / self.allocatable) if self.allocatable else 0


@dataclass(frozen=True)
class Tradeoff:
    """A downsize left for a later PR that would free room where a blocked change needs it."""

    key: str  # namespace/workload/container
    node: str
    resource: str
    frees: int


@dataclass(frozen=True)
class Block:
    """Why a change (or part of it) does not fit, and what would make it."""

    shortfalls: tuple[Shortfall, ...]
    held: tuple[str, ...] = ()  # resources held back from a selected change; empty: the whole change is blocked
    fits_on: str | None = None  # another node with room for the whole pod
    tradeoffs: tuple[Tradeoff, ...] = ()

    @property
    def needs_nodes(self) -> bool:
        """More node room would help (not only a quota is in the way)."""
        return any(s.quota_key is None for s in self.shortfalls)

    def describe(self) -> str:
        parts = []
        for s in self.shortfalls:
            r = s.resource
            if s.quota_key:
                parts.append(f"ResourceQuota {s.node[len('quota '):]} {s.quota_key} would be {fmt(r, s.used)} against its hard "
                             f"{fmt(r, s.budget)}: {fmt(r, s.short)} short")
            elif s.node == "cluster":
                parts.append(f"cluster {r} would be {fmt(r, s.used)} against a budget of {fmt(r, s.budget)}: {fmt(r, s.short)} short")
            else:
                parts.append(f"{s.node} {r} would be {fmt(r, s.used)} against a budget of {fmt(r, s.budget)} "
                             f"({fmt(r, s.short)} short; the node budget would have to be {s.budget_percent_needed}%)")
        hints = []
        if self.fits_on:
            hints.append(f"it would fit on {self.fits_on}")
        for node, r in dict.fromkeys((t.node, t.resource) for t in self.tradeoffs):
            offers = [t for t in self.tradeoffs if (t.node, t.resource) == (node, r)]
            freed = sum(t.frees for t in offers)
            hints.append(f"the waiting downsizes on {node} would free {fmt(r, freed)} {r} ("
                         + ", ".join(f"{t.key} −{fmt(r, t.frees)}" for t in offers) + ")")
        for s in dict.fromkeys((s.node, s.quota_key) for s in self.shortfalls if s.quota_key):
            name = s[0][len("quota "):]
            hints.append(f"raise the hard {s[1]} of ResourceQuota {name}, or free room in namespace {name.split('/')[0]}")
        if self.needs_nodes:
            hints.append("or raise the budget, or add a node")
        text = "; ".join(hints)
        return "; ".join(parts) + " after this PR. " + text[0].upper() + text[1:] + "."


@dataclass(frozen=True)
class Selection:
    selected: tuple[str, ...]  # candidate keys, in selection order
    adjusted: Mapping[str, ResourceSpec]  # selected with part of the change held back to fit
    blocked: Mapping[str, Block]  # key → why it does not fit, and what would
    held: Mapping[str, Block]  # selected with part held back → why that part does not fit
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
    quotas: QuotaBook | None = None,
) -> Selection:
    """``include``: containers a person asked for, as namespace/workload/container; each gets a
    slot beyond ``max_changes`` and goes first in its group (it still has to fit). ``quotas``: each namespace's
    ResourceQuota headroom, a budget like a node's (bot.engine.quota)."""
    include = frozenset(c.key for c in candidates if c.ref in include)  # as keys: one name may be two kinds
    ws = _Workspace(workloads, projection)

    def quota_over(c: Candidate, spec: ResourceSpec | None = None) -> dict[tuple[str, int], int]:
        """Quota overruns as budget overruns: ("quota <ns>/<name>", resource index) → amount."""
        if quotas is None:
            return {}
        spec = spec or c.rec.proposed
        return {(f"quota {q.namespace}/{q.name}", RES_NAMES.index(key.split(".")[1])): used - q.hard[key]
                for q, key, used in quotas.overruns(ws.specs, c.workload, c.container, spec)}
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
    waiting: list[Candidate] = []  # upsizes that did not fit (whole or in part) before the downsizes
    taken: set[str] = set()
    notes: dict[str, list[str]] = {c.key: list(c.notes) for c in candidates}

    def slots() -> int:
        # Included downsizes keep their reserved slots while the upsizes are chosen.
        return max_changes - len(selected) - len(included_down - taken)

    def take(c: Candidate) -> None:
        taken.add(c.key)
        room.take(c.key)
        room.workload_changed(c.workload.key)

    def try_upsize(up: Candidate, second_chance: bool = False) -> dict[tuple[str, int], int]:
        """Take the upsize if it fits, with same-node downsizes if it must; else the overruns it would cause."""
        in_quota = quota_over(up)
        if in_quota:
            return in_quota  # no downsize elsewhere frees a namespace's quota: the second chance may
        deltas = ws.apply(up)
        over = projection.overages(deltas)
        if not over:
            selected.append(up.key)
            take(up)
            if second_chance:
                notes[up.key].append("fits once this PR's downsizes are in")
            return {}
        helpers = None
        if slots() > 1 and room.could_cover(over):
            pool = sorted(room.pool_for(over), key=lambda c: rank[c.key])
            helpers = _make_room(ws, room, over, pool, slots() - 1)
        if helpers is not None:
            for h in helpers:
                notes[h.key].append(f"selected to make room for {up.ref}")
            selected.append(up.key)
            selected.extend(h.key for h in helpers)
            take(up)
            for h in helpers:
                take(h)
            notes[up.key].append("fits after " + ", ".join(h.ref for h in helpers))
            return {}
        ws.undo(up, deltas)
        return over

    for up in upsizes:
        if slots() <= 0:
            break
        over = try_upsize(up)
        if not over:
            continue
        partial = _hold_back(up, over)
        if partial is not None and not quota_over(partial):
            part_deltas = ws.apply(partial)
            if not projection.overages(part_deltas):
                adjusted[up.key] = partial.rec.proposed
                selected.append(up.key)
                take(up)
                waiting.append(up)
                continue
            ws.undo(partial, part_deltas)
        waiting.append(up)

    for down in downsizes:
        if down.key in taken:
            continue
        if slots() + (down.key in included_down) <= 0:
            break
        if quota_over(down):  # a smaller request with a larger limit can still overrun limits.*
            waiting.append(down)
            continue
        ws.apply(down)
        selected.append(down.key)
        take(down)

    # Downsizes may have made room: a blocked upsize gets a second chance before it is reported.
    for up in waiting:
        if up.key not in taken and slots() > 0:
            try_upsize(up, second_chance=True)

    # Every explanation is measured on the final projection, the "after" of the node table.
    blocked: dict[str, Block] = {}
    held: dict[str, Block] = {}
    # Both indexes are built once on that projection, so each explanation is a lookup, not a scan.
    offers = _Offers(ws, [c for c in downsizes if c.key not in taken])
    free = _FreeRoom(ws.projection, nodes, limits)  # room already promised to an earlier blocked pod is taken off
    for up in waiting:
        if up.key in taken and up.key not in adjusted:
            continue
        block = _block(ws, up, free, offers, held=up.key in adjusted, quotas=quotas)
        if up.key in adjusted:
            held[up.key] = block
            notes[up.key].append(f"{' and '.join(block.held)} part held back: " + block.describe())
        else:
            blocked[up.key] = block

    over_cap = tuple(c.key for c in upsizes + downsizes if c.key not in taken and c.key not in blocked)
    for key in include & taken:
        notes[key].append("included beyond the cap at a writer's request (dashboard issue)")
    return Selection(
        selected=tuple(selected),
        adjusted=adjusted,
        blocked=blocked,
        held=held,
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
    keys = list(need)
    weight = [2.0 if node != "*" else 1.0 for node, _ in keys]  # same-node relief counts double: cluster-wide slack does not schedule a pod
    # What each downsize frees per overrun, measured once: a downsize that frees none of them never scores.
    remaining = []
    for cand in pool:
        frees = [_freed(room.deltas[cand.key], node, i) for node, i in keys]
        if any(f > 0 for f in frees):
            remaining.append((cand, frees))
    chosen: list[tuple[Candidate, dict[str, Vector]]] = []
    while any(v > 0 for v in need.values()) and len(chosen) < budget and remaining:
        amounts = [need[k] for k in keys]
        best, best_score = None, 0.0
        for entry in remaining:
            score = 0.0
            for k, freed in enumerate(entry[1]):
                amount = amounts[k]
                if amount > 0 and freed > 0:
                    score += min(freed, amount) / amount * weight[k]
            if score > best_score:
                best, best_score = entry, score
        if best is None:
            break
        remaining.remove(best)
        deltas = ws.apply(best[0])
        chosen.append((best[0], deltas))
        for key in need:
            need[key] -= _freed(deltas, *key)
    if all(v <= 0 for v in need.values()):
        return [c for c, _ in chosen]
    for cand, deltas in reversed(chosen):
        ws.undo(cand, deltas)
    return None


def _block(ws: _Workspace, up: Candidate, free: "_FreeRoom", offers: "_Offers", *, held: bool, quotas: QuotaBook | None = None) -> Block:
    """What the rest of ``up`` (all of it, or its held-back part) would break on the final projection."""
    proj = ws.projection
    limits = proj.limits
    deltas = ws.delta(up)  # from the spec now in the projection (current, or the partial change) to the full change
    shortfalls = []
    for i, r in enumerate(RES_NAMES):
        grew = False
        for node, d in sorted(deltas.items()):
            if d[i] <= 0 or node not in proj.used:
                continue
            grew = True
            lim = limits[node]
            used = proj.used[node][i] + d[i]
            if used > lim.budget[i]:
                shortfalls.append(Shortfall(node, r, used, lim.budget[i], lim.allocatable[i]))
        total = proj.total[i] + sum(d[i] for d in deltas.values())
        if grew and total > proj.cluster_budget[i]:
            shortfalls.append(Shortfall("cluster", r, total, proj.cluster_budget[i], proj.cluster_alloc[i]))
    if quotas is not None:
        shortfalls += [Shortfall(f"quota {q.namespace}/{q.name}", key.split(".")[1], used, q.hard[key], q.hard[key], key)
                       for q, key, used in quotas.overruns(ws.specs, up.workload, up.container, up.rec.proposed)]
    node_bound = any(s.quota_key is None for s in shortfalls)
    held_resources = tuple(dict.fromkeys(s.resource for s in shortfalls)) if held else ()
    return Block(
        shortfalls=tuple(shortfalls),
        held=held_resources,
        fits_on=_fits_elsewhere(ws, up, free) if node_bound else None,
        tradeoffs=tuple(t for s in shortfalls for t in offers.best(s.node, s.resource)),
    )


def _fits_elsewhere(ws: _Workspace, up: Candidate, free: "_FreeRoom") -> str | None:
    """Another node whose room after this PR takes the whole pod at its new size (single-pod workloads); the room
    is reserved, so two blocked pods are never both told they fit in the same space."""
    w = up.workload
    if len(w.pods) != 1 or w.is_daemonset:
        return None
    per_pod = pod_request(w, {**ws.specs[w.key], up.container: up.rec.proposed})
    return free.reserve_first(per_pod, lambda n: n.name != w.pods[0].node and n.admits(w.node_selector, w.tolerations))


class _FreeRoom:
    """Each node's room under its budget on the final projection, less what blocked pods were promised, in a
    max tree over the nodes' order: the first node with room for a pod is found without looking at every node.

    A subtree is skipped only when no node in it has enough CPU or none has enough memory, so the answer is
    the one a scan of the nodes in order would give.
    """

    def __init__(self, proj: Projection, nodes: Sequence[Node], limits: Mapping[str, NodeLimits]):
        self.nodes = [n for n in nodes if n.name in proj.used]
        size = 1
        while size < max(1, len(self.nodes)):
            size *= 2
        self.size = size
        none = -(1 << 62)  # an empty leaf: never enough room
        self.room = [[none, none] for _ in range(2 * size)]
        for k, n in enumerate(self.nodes):
            self.room[size + k] = [limits[n.name].budget[i] - proj.used[n.name][i] for i in (0, 1)]
        for k in range(size - 1, 0, -1):
            self._pull(k)

    def _pull(self, k: int) -> None:
        a, b = self.room[2 * k], self.room[2 * k + 1]
        self.room[k] = [max(a[0], b[0]), max(a[1], b[1])]

    def reserve_first(self, need: Vector, admits) -> str | None:
        """The first node (in the snapshot's order) with room for ``need`` that ``admits`` accepts; its room is
        reserved."""
        k = self._first(1, need, admits)
        if k is None:
            return None
        name = self.nodes[k - self.size].name
        leaf = self.room[k]
        leaf[0] -= need[0]
        leaf[1] -= need[1]
        while k > 1:
            k //= 2
            self._pull(k)
        return name

    def _first(self, k: int, need: Vector, admits) -> int | None:
        room = self.room[k]
        if room[0] < need[0] or room[1] < need[1]:
            return None
        if k >= self.size:
            return k if admits(self.nodes[k - self.size]) else None
        return self._first(2 * k, need, admits) or self._first(2 * k + 1, need, admits)


class _Offers:
    """The waiting downsizes that would free room, per node and resource and for the cluster, largest first.

    Measured once on the final projection (explanations do not change it), so a blocked change's trade-offs
    are the head of a sorted list.
    """

    def __init__(self, ws: _Workspace, waiting: Sequence[Candidate], most: int = 3):
        lists: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for c in waiting:
            deltas = ws.delta(c)
            for i in (0, 1):
                total = -sum(d[i] for d in deltas.values())
                if total > 0:
                    lists.setdefault(("cluster", i), []).append((total, c.ref))
                for node, d in deltas.items():
                    if -d[i] > 0:
                        lists.setdefault((node, i), []).append((-d[i], c.ref))
        # sorted() is stable: equal offers keep the waiting order, as a scan of the waiting downsizes would
        self.best_by = {k: tuple(Tradeoff(ref, k[0], RES_NAMES[k[1]], frees)
                                 for frees, ref in sorted(v, key=lambda t: (-t[0], t[1]))[:most])
                        for k, v in lists.items()}

    def best(self, node: str, resource: str) -> tuple[Tradeoff, ...]:
        return self.best_by.get((node, RES_NAMES.index(resource)), ())
