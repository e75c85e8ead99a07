"""A namespace's ResourceQuota headroom as a budget in selection, like a node's budget.

The API server refuses a pod that would take a namespace's requests.* or limits.* past a quota's
hard value, so a change that would is held back with its shortfall. Usage starts from the quota's own
``used`` (what the API server counts now) and moves with each change this PR takes: a workload's
pods × the change of one pod's requests (as the scheduler counts them) or limits. The check is on the
state after the rollout; a rolling update's surge pod needs one more pod's worth for a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from bot.engine.fit import pod_request
from bot.model import QUOTA_KEYS, ResourceQuota, Resources, ResourceSpec, Workload


def pod_limits(workload: Workload, specs: Mapping[str, ResourceSpec]) -> tuple[int, int]:
    """One pod's limits as quota counts them: the scheduler's sum (app containers and sidecars, or the largest
    init container), over limits instead of requests; a container without a limit adds nothing."""
    as_requests = {name: ResourceSpec(Resources(s.limits.cpu or 0, s.limits.memory or 0)) for name, s in specs.items()}
    return pod_request(workload, as_requests)


def _pods(workload: Workload) -> int:
    return len(workload.pods) or workload.replicas


def totals(workload: Workload, specs: Mapping[str, ResourceSpec]) -> dict[str, int]:
    """What all the workload's pods count against a quota, per QUOTA_KEYS."""
    n = _pods(workload)
    req, lim = pod_request(workload, specs), pod_limits(workload, specs)
    return {"requests.cpu": req[0] * n, "requests.memory": req[1] * n, "limits.cpu": lim[0] * n, "limits.memory": lim[1] * n}


@dataclass(frozen=True)
class QuotaUse:
    """One quota key of one ResourceQuota: what the namespace counts now, after this PR, and the hard value."""

    namespace: str
    name: str
    key: str  # requests.cpu, requests.memory, limits.cpu, limits.memory
    hard: int
    before: int
    after: int


class QuotaBook:
    """The quotas by namespace, and what each namespace's workloads counted when the snapshot was taken."""

    def __init__(self, quotas: Sequence[ResourceQuota], workloads: Sequence[Workload]):
        self.quotas: dict[str, list[ResourceQuota]] = {}
        for q in sorted(quotas, key=lambda q: (q.namespace, q.name)):
            if q.hard:
                self.quotas.setdefault(q.namespace, []).append(q)
        self.workloads: dict[str, list[Workload]] = {}
        self.start: dict[tuple, dict[str, int]] = {}
        for w in workloads:
            if w.namespace in self.quotas:
                self.workloads.setdefault(w.namespace, []).append(w)
                self.start[w.key] = totals(w, {c.name: c.resources for c in w.containers})

    def _grown(self, specs: Mapping[tuple, Mapping[str, ResourceSpec]], namespace: str) -> dict[str, int]:
        """How much the changes already taken moved the namespace's usage."""
        out = dict.fromkeys(QUOTA_KEYS, 0)
        for w in self.workloads.get(namespace, ()):
            now = totals(w, specs[w.key])
            for key in QUOTA_KEYS:
                out[key] += now[key] - self.start[w.key][key]
        return out

    def overruns(self, specs: Mapping[tuple, Mapping[str, ResourceSpec]], workload: Workload, container: str,
                 spec: ResourceSpec) -> list[tuple[ResourceQuota, str, int]]:
        """(quota, key, usage after) for each quota the change of ``container`` to ``spec`` would overrun."""
        quotas = self.quotas.get(workload.namespace)
        if not quotas:
            return []
        now = specs[workload.key]
        before, after = totals(workload, now), totals(workload, {**now, container: spec})
        grown = self._grown(specs, workload.namespace)
        out = []
        for q in quotas:
            for key in QUOTA_KEYS:
                if key not in q.hard or after[key] <= before[key]:
                    continue  # a change only answers for the keys it grows
                used = q.used.get(key, 0) + grown[key] + after[key] - before[key]
                if used > q.hard[key]:
                    out.append((q, key, used))
        return out

    def uses(self, specs: Mapping[tuple, Mapping[str, ResourceSpec]]) -> tuple[QuotaUse, ...]:
        """Each quota key before and after the given final specs (the quota table of the PR)."""
        out = []
        for ns, quotas in self.quotas.items():
            grown = self._grown(specs, ns)
            for q in quotas:
                for key in QUOTA_KEYS:
                    if key in q.hard:
                        before = q.used.get(key, 0)
                        out.append(QuotaUse(ns, q.name, key, q.hard[key], before, before + grown[key]))
        return tuple(out)
