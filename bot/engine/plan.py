"""The engine's entry point: snapshot + policy → plan.

Pure: no I/O, no clock, no globals. The same snapshot and policy always give
the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Mapping

from bot.engine import guards
from bot.engine.fit import NodeLimits, Projection, as_resources, node_limits
from bot.engine.quota import QuotaBook, QuotaUse
from bot.engine.recommend import ContainerRecommendation, recommend
from bot.engine.select import Block, Candidate, Selection, select
from bot.model import ContainerChange, Resources, ResourceSpec, Snapshot, Workload
from bot.policy import ContainerPolicy, Policy

# Decision statuses, in the order a report lists them.
SELECTED = "selected"  # in this PR
BLOCKED = "blocked"  # an upsize that does not fit, even with downsizes
OVER_CAP = "over-cap"  # a good change beyond the per-PR cap: next run
REPORT_ONLY = "report-only"  # policy mode report, or a Job/CronJob
SKIPPED = "skipped"  # excluded, mode off, /rightsize skip, not enough data
UNCHANGED = "unchanged"  # nothing worth changing
STATUSES = (SELECTED, BLOCKED, OVER_CAP, REPORT_ONLY, SKIPPED, UNCHANGED)


@dataclass(frozen=True, slots=True)
class Decision:
    workload: Workload
    container: str
    init: bool
    status: str
    reason: str
    policy: ContainerPolicy
    recommendation: ContainerRecommendation | None = None
    notes: tuple[str, ...] = ()
    # The full change when only part of it fits (the rest is unmet demand for node pools).
    wanted: ResourceSpec | None = None
    # Why it (or its held-back part) does not fit, measured on the final projection.
    block: Block | None = None
    # The cluster guard that skipped it (bot.engine.guards), if one did.
    guard: str | None = None

    @property
    def key(self) -> str:
        return f"{self.workload.namespace}/{self.workload.name}/{self.container}"

    @property
    def uid(self) -> str:
        """Unique within a snapshot: a Deployment and a StatefulSet may share a name."""
        return f"{self.workload.kind}/{self.key}"

    def change(self) -> ContainerChange:
        assert self.recommendation is not None
        w = self.workload
        return ContainerChange(
            namespace=w.namespace, kind=w.kind, workload=w.name, container=self.container,
            current=self.recommendation.current, proposed=self.recommendation.proposed,
            init=self.init, helm_release=w.helm_release,
        )


@dataclass(frozen=True)
class NodeReport:
    name: str
    allocatable: Resources
    budget: Resources
    before: Resources
    after: Resources


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    nodes: tuple[NodeReport, ...]
    cluster: NodeReport
    max_changes: int
    policy_source: str
    window: str
    collected_at: str
    unknown_nodes: tuple[str, ...] = ()
    policy: Policy | None = field(default=None, compare=False, repr=False)
    quotas: tuple[QuotaUse, ...] = ()  # each ResourceQuota key before and after this PR

    def by_status(self, status: str) -> list[Decision]:
        return list(self._by_status.get(status, ()))

    @cached_property
    def _by_status(self) -> dict[str, tuple[Decision, ...]]:
        """Decisions by status, in plan order: the report asks ~100 times, once was a pass over every decision each."""
        groups: dict[str, list[Decision]] = {}
        for d in self.decisions:
            groups.setdefault(d.status, []).append(d)
        return {s: tuple(ds) for s, ds in groups.items()}

    @property
    def selected(self) -> list[Decision]:
        """Selected decisions in selection order (urgent first)."""
        return self.by_status(SELECTED)

    def changes(self) -> list[ContainerChange]:
        return [d.change() for d in self.selected]


OUTSIDE_NAMESPACES = "outside the namespaces of this run"


def _gate(workload: Workload, container_name: str, policy: ContainerPolicy, overrides_skip: str | None,
          only_namespaces: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """Why a container is not sized at all (status, reason), or None."""
    if only_namespaces and workload.namespace not in only_namespaces:
        return SKIPPED, OUTSIDE_NAMESPACES
    if policy.exclude:
        return SKIPPED, "excluded by policy (" + policy.layers[-1] + ")"
    if policy.mode == "off":
        return SKIPPED, "policy mode is off"
    if overrides_skip:
        return SKIPPED, f"skipped by a /rightsize skip {overrides_skip} command"
    return None


def decide(workload: Workload, policy: Policy, window_seconds: int, facts: guards.ClusterFacts = guards.NO_FACTS) -> list[Decision]:
    out = []
    for c in workload.containers:
        cp = policy.for_container(workload, c.name)
        gate = _gate(workload, c.name, cp, policy.overrides.skipped(workload.namespace, workload.name, c.name), policy.only_namespaces)
        cluster_gate = None if gate else guards.gate(workload, c.name, facts)
        if gate or cluster_gate:
            status, reason = gate or (SKIPPED, cluster_gate[1])
            out.append(Decision(workload, c.name, c.init, status, reason, cp, guard=cluster_gate[0] if cluster_gate else None))
            continue
        hpa = workload.hpa
        sized = recommend(
            c, cp, window_seconds,
            hpa_resources=hpa.utilization_resources if hpa else (),
            hpa_name=hpa.name if hpa else "",
            pin=policy.overrides.pin_for(workload.namespace, workload.name, c.name),
        )
        rec = guards.shape(sized, workload, cp.skip, facts)
        key = f"{workload.namespace}/{workload.name}/{c.name}"
        held_by_guard = guards.held_by_guard(sized, rec)
        if rec.blocked:
            status, reason = SKIPPED, rec.blocked
        elif held_by_guard:
            status, reason = SKIPPED, held_by_guard[1]
        elif rec.changed and key in policy.held:
            status, reason = SKIPPED, policy.held[key]
        elif rec.changed and key in policy.not_in_git:
            why = policy.not_in_git[key]
            status, reason = SKIPPED, why if why.startswith("could not patch ") else "not found in Git: " + why
        elif not rec.changed:
            status, reason = UNCHANGED, "within the deadband or already right"
        elif workload.is_batch:
            status, reason = REPORT_ONLY, f"{workload.kind} pods are short-lived: recommendation only, update the template by hand"
        elif cp.mode == "report":
            status, reason = REPORT_ONLY, "policy mode is report"
        else:
            status, reason = "candidate", ""
        out.append(Decision(workload, c.name, c.init, status, reason, cp, rec, guard=held_by_guard[0] if held_by_guard else None))
    return out


def build_plan(snapshot: Snapshot, policy: Policy) -> Plan:
    window = snapshot.window_seconds or policy.window_seconds
    decisions: list[Decision] = []
    facts = guards.ClusterFacts.of(snapshot)
    for w in sorted(snapshot.workloads, key=lambda w: (w.namespace, w.name, w.kind)):
        decisions.extend(decide(w, policy, window, facts))

    limits = node_limits(snapshot.nodes, policy.budgets)
    projection = Projection(limits, policy.budgets)
    candidates = [
        Candidate(d.uid, d.workload, d.container, d.recommendation)
        for d in decisions
        if d.status == "candidate" and d.recommendation is not None
    ]
    quotas = QuotaBook(snapshot.resource_quotas, snapshot.workloads) if snapshot.resource_quotas else None
    selection = select(candidates, snapshot.workloads, snapshot.nodes, limits, projection, policy.max_changes,
                       include=frozenset(policy.overrides.includes), quotas=quotas)
    decisions = _apply_selection(decisions, selection)
    return Plan(
        decisions=tuple(decisions),
        nodes=tuple(_node_reports(limits, selection)),
        cluster=NodeReport(
            "cluster",
            as_resources(projection.cluster_alloc),
            as_resources(projection.cluster_budget),
            as_resources(selection.cluster_before),
            as_resources(selection.cluster_after),
        ),
        max_changes=policy.max_changes,
        policy_source=policy.source,
        window=snapshot.window,
        collected_at=snapshot.collected_at,
        unknown_nodes=selection.unknown_nodes,
        policy=policy,
        quotas=quotas.uses(_final_specs(snapshot, decisions)) if quotas else (),
    )


def _apply_selection(decisions: list[Decision], sel: Selection) -> list[Decision]:
    order = {k: i for i, k in enumerate(sel.selected)}
    out = []
    for d in decisions:
        if d.status != "candidate":
            out.append(d)
            continue
        notes = sel.notes.get(d.uid, ())
        if d.uid in order:
            if d.uid in sel.adjusted:
                d = replace(d, recommendation=replace(d.recommendation, proposed=sel.adjusted[d.uid]),
                            wanted=d.recommendation.proposed)
            out.append(_with(d, SELECTED, "", notes, block=sel.held.get(d.uid)))
        elif d.uid in sel.blocked:
            block = sel.blocked[d.uid]
            out.append(_with(d, BLOCKED, "does not fit: " + block.describe(), notes, block=block))
        else:
            out.append(_with(d, OVER_CAP, "over the cap of changes per PR: a later run picks it up", notes, d.block))
    # Selected decisions keep selection order (priority), the waiting ones the order a later run picks them in,
    # the rest stay sorted by name.
    chosen = sorted((d for d in out if d.status == SELECTED), key=lambda d: order[d.uid])
    pick = {k: i for i, k in enumerate(sel.over_cap)}
    waiting = sorted((d for d in out if d.status == OVER_CAP), key=lambda d: pick.get(d.uid, len(pick)))
    return chosen + waiting + [d for d in out if d.status not in (SELECTED, OVER_CAP)]


def _final_specs(snapshot: Snapshot, decisions: list[Decision]) -> dict[tuple, dict[str, ResourceSpec]]:
    """Every workload's container specs once this PR is merged: the selected proposals, the rest as they are."""
    specs = {w.key: {c.name: c.resources for c in w.containers} for w in snapshot.workloads}
    for d in decisions:
        if d.status == SELECTED and d.recommendation is not None:
            specs[d.workload.key][d.container] = d.recommendation.proposed
    return specs


def _with(d: Decision, status: str, reason: str, notes: tuple[str, ...], block: Block | None) -> Decision:
    # A constructor call, not dataclasses.replace: this runs once per candidate, and replace costs 4× as much.
    return Decision(d.workload, d.container, d.init, status, reason, d.policy, d.recommendation, notes, d.wanted, block, d.guard)


def _node_reports(limits: Mapping[str, NodeLimits], sel: Selection) -> list[NodeReport]:
    return [
        NodeReport(
            name,
            as_resources(lim.allocatable),
            as_resources(lim.budget),
            as_resources(sel.before[name]),
            as_resources(sel.after[name]),
        )
        for name, lim in limits.items()
    ]
