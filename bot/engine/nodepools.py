"""Node pools: propose a new worker count from a placement simulation, not from average CPU.

Seed 001 scales when average CPU crosses 80%/30%. Averages mislead both
ways: a cluster at 40% CPU can have nowhere to put a pod, and one at 25% may
not survive losing a node. Here:

* scale up to the smallest count at which the blocked upsizes, the pending
  pods and any over-budget node's excess all find room (first-fit
  decreasing onto the pool's nodes plus new nodes of the pool's shape, which
  start with the pool's DaemonSet pods), capped at ``max``;
* scale down by one node only if every pod on it can be placed on the nodes
  that remain within their budgets (selectors and taints respected), the
  pool's requests then stay under ``scaleDownPercent`` of its budget
  (hysteresis: scale-up starts at 100%), and the sum of the pods' observed
  peaks stays under the same share of the remaining allocatable (the whole
  window, not just now), never below ``min``;
* nothing within ``cooldown`` of the last change to the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import floor
from typing import Mapping, Sequence

from bot import quantity
from bot.duration import parse_duration
from bot.engine.fit import pod_request
from bot.engine.plan import BLOCKED, SELECTED, Plan
from bot.model import Node, PendingPod, Resources, Snapshot, Taint, Toleration, Workload
from bot.policy import Budgets

Vector = tuple[int, int]
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class NodeShape:
    cpu: int
    memory: int
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class NodePool:
    name: str
    selector: Mapping[str, str]
    file: str
    variable: str
    min: int = 0
    max: int = 1_000
    shape: NodeShape | None = None
    price_per_node_hour: float | None = None
    cooldown_seconds: int = 0
    scale_down_percent: float = 75

    @staticmethod
    def from_policy(raw: Mapping) -> "NodePool":
        shape = raw.get("nodeShape")
        return NodePool(
            name=raw["name"],
            selector=dict(raw.get("selector") or {}),
            file=raw["terraform"]["file"],
            variable=raw["terraform"]["variable"],
            min=int(raw.get("min", 0)),
            max=int(raw.get("max", 1_000)),
            shape=NodeShape(
                quantity.parse_cpu(shape["cpu"]), quantity.parse_memory(shape["memory"]),
                dict(shape.get("labels") or {}),
                tuple(Taint(t["key"], t.get("value"), t.get("effect", "NoSchedule")) for t in shape.get("taints") or ()),
            ) if shape and "cpu" in shape and "memory" in shape else None,
            price_per_node_hour=raw.get("pricePerNodeHour"),
            cooldown_seconds=parse_duration(raw.get("cooldown", "0s")),
            scale_down_percent=float(raw.get("scaleDownPercent", 75)),
        )

    def contains(self, node: Node) -> bool:
        return all(node.labels.get(k) == v for k, v in self.selector.items())


@dataclass(frozen=True)
class PodDemand:
    ref: str
    request: Vector
    node_selector: Mapping[str, str]
    tolerations: tuple[Toleration, ...]
    peak: Vector = (0, 0)  # observed max usage (millicores, bytes), summed over containers


@dataclass(frozen=True)
class Placement:
    pod: str
    node: str


@dataclass(frozen=True)
class NodeProjection:
    name: str
    allocatable: Vector
    budget: Vector
    used: Vector
    new: bool = False
    removed: bool = False


@dataclass(frozen=True)
class PoolProposal:
    pool: NodePool
    current: int
    proposed: int
    trigger: str
    reasons: tuple[str, ...] = ()
    placements: tuple[Placement, ...] = ()
    nodes: tuple[NodeProjection, ...] = ()
    removed_node: str | None = None
    monthly_cost_change: float | None = None
    held_back: str | None = None  # a change was wanted but cooldown or min/max stopped it

    @property
    def changed(self) -> bool:
        return self.proposed != self.current


# --- the simulation ------------------------------------------------------------------

class _Bins:
    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self.budget: dict[str, Vector] = {}
        self.used: dict[str, list[int]] = {}
        self.new: set[str] = set()

    def add(self, node: Node, budget: Vector, used: Vector = (0, 0), new: bool = False) -> None:
        self.nodes[node.name] = node
        self.budget[node.name] = budget
        self.used[node.name] = [used[0], used[1]]
        if new:
            self.new.add(node.name)

    def remove(self, name: str) -> None:
        for d in (self.nodes, self.budget, self.used):
            d.pop(name, None)

    def fits(self, name: str, req: Vector) -> bool:
        u, b = self.used[name], self.budget[name]
        return u[0] + req[0] <= b[0] and u[1] + req[1] <= b[1]

    def place(self, pods: Sequence[PodDemand]) -> tuple[list[Placement], list[PodDemand]]:
        """First-fit decreasing (by the pod's larger share of a node), nodes in name order, existing before new."""
        order = sorted(self.nodes, key=lambda n: (n in self.new, n))
        placed, failed = [], []
        for pod in sorted(pods, key=lambda p: (-(p.request[1] * 1000 + p.request[0]), p.ref)):
            for name in order:
                if self.nodes[name].admits(pod.node_selector, pod.tolerations) and self.fits(name, pod.request):
                    self.used[name][0] += pod.request[0]
                    self.used[name][1] += pod.request[1]
                    placed.append(Placement(pod.ref, name))
                    break
            else:
                failed.append(pod)
        return placed, failed

    def projection(self, allocatable: Mapping[str, Vector], removed: str | None = None) -> tuple[NodeProjection, ...]:
        out = [
            NodeProjection(n, allocatable[n], self.budget[n], (self.used[n][0], self.used[n][1]), new=n in self.new)
            for n in sorted(self.nodes, key=lambda n: (n in self.new, n))
        ]
        if removed:
            out.append(NodeProjection(removed, allocatable[removed], (0, 0), (0, 0), removed=True))
        return tuple(out)


def _budget(node: Node, budgets: Budgets) -> Vector:
    cpu_pct, mem_pct = budgets.for_node(node.name)
    return floor((node.allocatable.cpu or 0) * cpu_pct / 100), floor((node.allocatable.memory or 0) * mem_pct / 100)


def _final_specs(plan: Plan, *, unmet: bool = True) -> dict[tuple, dict]:
    """Each workload's container specs after this plan. With ``unmet``, blocked upsizes and held-back parts
    count as the demand they are (their full wanted size); without, as what this PR really writes."""
    specs: dict[tuple, dict] = {}
    for d in plan.decisions:
        rec = d.recommendation
        if rec is None:
            c = d.workload.container(d.container)
            spec = c.resources if c else None
        elif unmet and (d.wanted is not None or d.status == BLOCKED) and (d.block is None or d.block.needs_nodes):
            spec = d.wanted or rec.proposed
        else:
            spec = rec.proposed if d.status == SELECTED else rec.current
        specs.setdefault(d.workload.key, {})[d.container] = spec
    return specs


def _peak(workload: Workload) -> Vector:
    cpu = sum(int((c.usage.cpu.max if c.usage.cpu else 0) * 1000) for c in workload.containers if not c.init)
    mem = sum(int(c.usage.memory.max if c.usage.memory else 0) for c in workload.containers if not c.init)
    return cpu, mem


def _pods_by_node(snapshot: Snapshot, specs: Mapping[tuple, dict]) -> tuple[dict[str, list[PodDemand]], dict[str, list[PodDemand]]]:
    """Per node: the movable pods, and the DaemonSet pods (which go wherever the node goes)."""
    movable: dict[str, list[PodDemand]] = {}
    daemons: dict[str, list[PodDemand]] = {}
    for w in snapshot.workloads:
        wspecs = specs.get(w.key) or {c.name: c.resources for c in w.containers}
        req = pod_request(w, wspecs)
        peak = _peak(w)
        for p in w.pods:
            if not p.node:
                continue
            demand = PodDemand(f"{w.namespace}/{p.name}", req, dict(w.node_selector), w.tolerations, peak)
            (daemons if w.is_daemonset else movable).setdefault(p.node, []).append(demand)
    return movable, daemons


def _blocked_pods(plan: Plan, specs: Mapping[tuple, dict]) -> list[tuple[str, PodDemand, Vector, str | None]]:
    """(current node, demand at the wanted size, request as this PR leaves it, the node the plan says it fits on)
    for each pod of each blocked upsize or held-back part."""
    written = _final_specs(plan, unmet=False)
    out = []
    seen = set()
    for d in plan.decisions:
        if d.status != BLOCKED and d.wanted is None:
            continue
        if d.block is not None and not d.block.needs_nodes:
            continue  # only a ResourceQuota is in the way: more nodes would not help
        w = d.workload
        if w.key in seen:
            continue
        seen.add(w.key)
        req = pod_request(w, specs[w.key])
        old = pod_request(w, written[w.key])
        fits_on = d.block.fits_on if d.block else None
        for p in w.pods:
            if p.node:
                out.append((p.node, PodDemand(f"{w.namespace}/{p.name}", req, dict(w.node_selector), w.tolerations, _peak(w)), old, fits_on))
    return out


def _pending(pods: Sequence[PendingPod]) -> list[PodDemand]:
    return [
        PodDemand(f"{p.namespace}/{p.name}", (p.requests.cpu or 0, p.requests.memory or 0), dict(p.node_selector), p.tolerations)
        for p in pods
    ]


def _shape_of(pool: NodePool, members: Sequence[Node]) -> NodeShape | None:
    if pool.shape:
        return pool.shape
    if not members:
        return None
    first = sorted(members, key=lambda n: n.name)[0]
    return NodeShape(first.allocatable.cpu or 0, first.allocatable.memory or 0, dict(first.labels), first.taints)


def _new_node(pool: NodePool, shape: NodeShape, index: int) -> Node:
    labels = {**shape.labels, **pool.selector}
    return Node(f"{pool.name}-new-{index}", Resources(shape.cpu, shape.memory), labels, shape.taints)


def _pool_daemons(pool_members: Sequence[str], daemons: Mapping[str, list[PodDemand]]) -> list[PodDemand]:
    """The DaemonSet pods a new node of the pool would run: those present on every pool node (per-node overhead)."""
    if not pool_members:
        return []
    common = None
    for name in pool_members:
        refs = {p.ref.rsplit("-", 1)[0]: p for p in daemons.get(name, [])}
        common = refs if common is None else {k: v for k, v in common.items() if k in refs}
    return list((common or {}).values())


def _cost(pool: NodePool, delta: int) -> float | None:
    return None if pool.price_per_node_hour is None else round(pool.price_per_node_hour * delta * HOURS_PER_MONTH, 2)


def propose(
    snapshot: Snapshot,
    plan: Plan,
    pool: NodePool,
    budgets: Budgets,
    current_count: int,
    *,
    seconds_since_last_change: float | None = None,
) -> PoolProposal:
    members = [n for n in snapshot.nodes if pool.contains(n)]
    member_names = [n.name for n in members]
    specs = _final_specs(plan)
    movable, daemons = _pods_by_node(snapshot, specs)
    allocatable = {n.name: (n.allocatable.cpu or 0, n.allocatable.memory or 0) for n in snapshot.nodes}

    def base_bins() -> _Bins:
        bins = _Bins()
        for n in snapshot.nodes:
            used = [0, 0]
            for p in movable.get(n.name, []) + daemons.get(n.name, []):
                used[0] += p.request[0]
                used[1] += p.request[1]
            bins.add(n, _budget(n, budgets), (used[0], used[1]))
        return bins

    up = _scale_up(snapshot, plan, pool, budgets, current_count, members, specs, movable, daemons, allocatable, base_bins)
    if up is not None:
        return _hold(up, pool, seconds_since_last_change)
    down = _scale_down(pool, budgets, current_count, members, movable, daemons, allocatable, base_bins)
    if down is not None:
        return _hold(down, pool, seconds_since_last_change)
    bins = base_bins()
    return PoolProposal(pool, current_count, current_count, "fits", (
        "every selected change fits, nothing is pending, and no node can be removed safely",
    ), nodes=bins.projection(allocatable))


def _hold(p: PoolProposal, pool: NodePool, since: float | None) -> PoolProposal:
    if p.changed and pool.cooldown_seconds and since is not None and since < pool.cooldown_seconds:
        from bot.duration import human_duration

        return PoolProposal(
            pool, p.current, p.current, p.trigger, p.reasons, p.placements, p.nodes, None, None,
            held_back=f"wanted {p.proposed} nodes, but the count changed {human_duration(since)} ago (cooldown {human_duration(pool.cooldown_seconds)})",
        )
    return p


def _scale_up(snapshot, plan, pool, budgets, current, members, specs, movable, daemons, allocatable, base_bins) -> PoolProposal | None:
    shape = _shape_of(pool, members)
    if shape is None:
        return None
    probe = _new_node(pool, shape, 0)
    reasons: list[str] = []
    demand: list[PodDemand] = []
    outside: list[str] = []
    # Base bins already hold each blocked pod at its new size on its current node: take it off, place it anew.
    bins = base_bins()
    blocked = _blocked_pods(plan, specs)
    preplaced: list[Placement] = []
    for node_name, pod, old, fits_on in blocked:
        if not probe.admits(pod.node_selector, pod.tolerations):
            # The pool cannot help this one: it stays as it is, at its current size.
            bins.used[node_name][0] -= pod.request[0] - old[0]
            bins.used[node_name][1] -= pod.request[1] - old[1]
            outside.append(pod.ref)
            continue
        bins.used[node_name][0] -= pod.request[0]
        bins.used[node_name][1] -= pod.request[1]
        if fits_on in bins.nodes and bins.fits(fits_on, pod.request):
            # The resources PR already names this node: the same answer here, room taken first.
            bins.used[fits_on][0] += pod.request[0]
            bins.used[fits_on][1] += pod.request[1]
            preplaced.append(Placement(pod.ref, fits_on))
            continue
        demand.append(pod)
    pending = [p for p in _pending(snapshot.pending_pods) if probe.admits(p.node_selector, p.tolerations)]
    demand += pending
    if outside:
        reasons.append(f"not counted: {', '.join(sorted(outside)[:5])} cannot run on this pool (node selector or taints)")
    if not demand:
        return None
    overhead = _pool_daemons([m.name for m in members], daemons)
    ds = (sum(p.request[0] for p in overhead), sum(p.request[1] for p in overhead))

    def trial_with(extra: int) -> tuple[_Bins, list[Placement], list[PodDemand]]:
        trial = _copy(bins)
        for i in range(1, extra + 1):
            node = _new_node(pool, shape, i)
            trial.add(node, _budget(node, budgets), ds, new=True)
        placed, failed = trial.place(demand)
        return trial, placed, failed

    # Each pod needs at most one new node of its own, so len(demand) extra nodes bound the search.
    needed = next((k for k in range(0, len(demand) + 1) if not trial_with(k)[2]), None)
    if needed == 0:
        return None  # it all fits on existing nodes once pods move: no new node needed
    room = max(0, pool.max - current)
    extra = room if needed is None else min(needed, room)
    if extra == 0:
        return PoolProposal(
            pool, current, current, "scale up", tuple(reasons), nodes=bins.projection(allocatable),
            held_back=f"the pool is at its max of {pool.max} nodes",
        )
    trial, placed, failed = trial_with(extra)
    placed = preplaced + placed
    # The reasons say exactly what the placement table shows: who needs a new node, who just moves.
    where = {p.pod: p.node for p in placed}
    on_new = sorted(ref for ref, n in where.items() if n in trial.new)
    moved = sorted(ref for ref, n in where.items() if n not in trial.new)
    pending_refs = {p.ref for p in pending}
    if on_new:
        reasons.insert(0, f"{len(on_new)} pod(s) need a new node: " + ", ".join(_label(r, pending_refs) for r in on_new[:5])
                       + (f" and {len(on_new) - 5} more" if len(on_new) > 5 else ""))
    if moved:
        reasons.append(f"{len(moved)} pod(s) fit on existing nodes once rescheduled: "
                       + ", ".join(f"{_label(r, pending_refs)} → {where[r]}" for r in moved[:5]))
    if failed:
        want = f"{current + needed}" if needed is not None else "more than the pending demand can use"
        reasons.append(f"capped at the pool's max of {pool.max}: needs {want} nodes; still without room: "
                       + ", ".join(p.ref for p in failed[:5]))
    alloc = {**allocatable, **{n: (shape.cpu, shape.memory) for n in trial.new}}
    return PoolProposal(
        pool, current, current + extra, "scale up", tuple(reasons), tuple(placed), trial.projection(alloc),
        monthly_cost_change=_cost(pool, extra),
    )


def _label(ref: str, pending: set[str]) -> str:
    return f"{ref} (pending)" if ref in pending else f"{ref} (blocked upsize)"


def _copy(bins: _Bins) -> _Bins:
    out = _Bins()
    for name in bins.nodes:
        out.add(bins.nodes[name], bins.budget[name], (bins.used[name][0], bins.used[name][1]), new=name in bins.new)
    return out


def _scale_down(pool, budgets, current, members, movable, daemons, allocatable, base_bins) -> PoolProposal | None:
    if current - 1 < pool.min or len(members) < 2:
        return None
    bins = base_bins()
    # Try the least-loaded node first: it has the fewest pods to move.
    def load(n: Node) -> tuple:
        used = bins.used[n.name]
        return (used[1] / max(1, n.allocatable.memory or 1) + used[0] / max(1, n.allocatable.cpu or 1), n.name)

    for victim in sorted(members, key=load):
        trial = _copy(bins)
        trial.remove(victim.name)
        pods = movable.get(victim.name, [])
        placed, failed = trial.place(pods)
        if failed:
            continue
        remaining = [m for m in members if m.name != victim.name]
        pool_budget = [sum(_budget(m, budgets)[i] for m in remaining) for i in (0, 1)]
        pool_used = [sum(trial.used[m.name][i] for m in remaining) for i in (0, 1)]
        if any(pool_used[i] >= pool_budget[i] * pool.scale_down_percent / 100 for i in (0, 1)):
            continue
        peaks = [sum(p.peak[i] for m in remaining for p in movable.get(m.name, []) + daemons.get(m.name, [])) + sum(p.peak[i] for p in pods) for i in (0, 1)]
        pool_alloc = [sum(allocatable[m.name][i] for m in remaining) for i in (0, 1)]
        if any(peaks[i] >= pool_alloc[i] * pool.scale_down_percent / 100 for i in (0, 1)):
            continue
        return PoolProposal(
            pool, current, current - 1, "scale down",
            (
                f"{victim.name}'s {len(pods)} pod(s) fit on the remaining nodes within budget",
                f"the pool's requests would use {max(pool_used[i] * 100 / max(1, pool_budget[i]) for i in (0, 1)):.0f}% of its budget "
                f"and the sum of observed peaks {max(peaks[i] * 100 / max(1, pool_alloc[i]) for i in (0, 1)):.0f}% of allocatable "
                f"(both must stay under {pool.scale_down_percent:g}%)",
            ),
            tuple(placed), trial.projection(allocatable, removed=victim.name), removed_node=victim.name,
            monthly_cost_change=_cost(pool, -1),
        )
    return None


def pools_from_policy(raw_pools: Sequence[Mapping]) -> list[NodePool]:
    return [NodePool.from_policy(p) for p in raw_pools]

