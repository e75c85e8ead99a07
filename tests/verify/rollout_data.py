"""Metrics around a rollout, as OpenMetrics for promtool, with the true values kept for the tests.

A Rightsizer PR is merged at MERGE; Flux rolls the new values out ROLLOUT − MERGE = 10 min later
(each workload's old pod's last sample is one minute before ROLLOUT, the new pod's first sample
is at ROLLOUT). Verification runs at NOW = MERGE + 24 h. Every series has one sample a minute
from START = MERGE − 26 h, so the before window (which starts ~23 h before the rollout) is covered.

Workloads in namespace ``shop`` (all Deployments, container ``app``):

- ``api``: memory cut (request 512Mi → 256Mi, limit 1Gi → 300Mi); the new pod is OOM-killed at
  ROLLOUT + 2 h and + 5 h (restarts 0 → 1 → 2, Ready 1 → 0 for one sample each time).
- ``worker``: CPU cut (request 500m → 100m, limit 1000m → 200m); 600 CFS periods a minute, 30 of
  them throttled before (5 %), 420 after (70 %).
- ``web``: memory cut (request 512Mi → 384Mi) that goes well.
- ``cache``: memory cut (request 256Mi → 128Mi) that Flux never applied: the pods keep 256Mi.
"""

from __future__ import annotations

from dataclasses import dataclass

MI = 2**20
MERGE = 1_763_596_800  # 2025-11-20T00:00:00Z, a multiple of 300
ROLLOUT = MERGE + 600
NOW = MERGE + 86400
START = MERGE - 26 * 3600
OOM_AT = (ROLLOUT + 2 * 3600, ROLLOUT + 5 * 3600)


@dataclass(frozen=True)
class Pod:
    workload: str
    name: str
    alive: tuple[int, int]
    requests: dict
    limits: dict
    mem: float  # working set, bytes
    cpu: float  # cores
    throttled_per_min: int = 30
    ooms: tuple[int, ...] = ()


OLD = {"api": ({"cpu": 0.25, "memory": 512 * MI}, {"memory": 1024 * MI}),
       "worker": ({"cpu": 0.5, "memory": 256 * MI}, {"cpu": 1.0}),
       "web": ({"cpu": 0.2, "memory": 512 * MI}, {}),
       "cache": ({"cpu": 0.1, "memory": 256 * MI}, {})}
NEW = {"api": ({"cpu": 0.25, "memory": 256 * MI}, {"memory": 300 * MI}),
       "worker": ({"cpu": 0.1, "memory": 256 * MI}, {"cpu": 0.2}),
       "web": ({"cpu": 0.2, "memory": 384 * MI}, {}),
       "cache": OLD["cache"]}  # never rolled out: the new pod still has the old values

PODS = [
    Pod("api", "api-5d8f7c9b-aaaaa", (START, ROLLOUT - 60), *OLD["api"], 200 * MI, 0.10),
    Pod("api", "api-7f6d5c4b-bbbbb", (ROLLOUT, NOW), *NEW["api"], 290 * MI, 0.10, ooms=OOM_AT),
    Pod("worker", "worker-6c7d8e9f-ccccc", (START, ROLLOUT - 60), *OLD["worker"], 100 * MI, 0.09),
    Pod("worker", "worker-8b9c7d6e-ddddd", (ROLLOUT, NOW), *NEW["worker"], 100 * MI, 0.09, throttled_per_min=420),
    Pod("web", "web-4b5c6d7e-eeeee", (START, ROLLOUT - 60), *OLD["web"], 150 * MI, 0.05),
    Pod("web", "web-9d8c7b6a-fffff", (ROLLOUT, NOW), *NEW["web"], 150 * MI, 0.05),
    Pod("cache", "cache-2c3d4e5f-ggggg", (START, ROLLOUT - 60), *OLD["cache"], 60 * MI, 0.02),
    Pod("cache", "cache-3d4e5f6a-hhhhh", (ROLLOUT, NOW), *NEW["cache"], 60 * MI, 0.02),
]
PERIODS_PER_MIN = 600


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def restarts_at(p: Pod, t: int) -> int:
    return sum(1 for o in p.ooms if o <= t)


def ready_at(p: Pod, t: int) -> int:
    return 0 if t in p.ooms else 1


def openmetrics() -> str:
    # family → (type, series → rows): OpenMetrics wants each series' samples together, in time order
    fams: dict[str, tuple[str, dict[str, list[str]]]] = {}

    def add(family: str, kind: str, name: str, labels: str, value: float, t: int) -> None:
        fams.setdefault(family, (kind, {}))[1].setdefault(name + labels, []).append(f"{name}{labels} {value} {t}")

    for p in PODS:
        base = dict(namespace="shop", pod=p.name, container="app")
        cadv = _labels(**base, image="img")
        ksm = _labels(**base)
        n = 0
        for t in range(p.alive[0], p.alive[1] + 1, 60):
            add("container_memory_working_set_bytes", "gauge", "container_memory_working_set_bytes", cadv, p.mem, t)
            add("container_cpu_usage_seconds", "counter", "container_cpu_usage_seconds_total", cadv, round(p.cpu * 60 * n, 6), t)
            add("container_cpu_cfs_periods", "counter", "container_cpu_cfs_periods_total", cadv, PERIODS_PER_MIN * n, t)
            add("container_cpu_cfs_throttled_periods", "counter", "container_cpu_cfs_throttled_periods_total", cadv,
                p.throttled_per_min * n, t)
            add("kube_pod_container_status_restarts", "counter", "kube_pod_container_status_restarts_total", ksm,
                restarts_at(p, t), t)
            add("kube_pod_container_status_ready", "gauge", "kube_pod_container_status_ready", ksm, ready_at(p, t), t)
            if p.ooms and t >= p.ooms[0]:
                add("kube_pod_container_status_last_terminated_reason", "gauge",
                    "kube_pod_container_status_last_terminated_reason", _labels(**base, reason="OOMKilled"), 1, t)
            for family, values in (("kube_pod_container_resource_requests", p.requests),
                                   ("kube_pod_container_resource_limits", p.limits)):
                for r, v in sorted(values.items()):
                    unit = "core" if r == "cpu" else "byte"
                    add(family, "gauge", family, _labels(**base, resource=r, unit=unit), v, t)
            n += 1
    for w in sorted({p.workload for p in PODS}):
        for t in range(START, NOW + 1, 60):
            # one replica unavailable during the minute of the swap only (inside the settle time)
            add("kube_deployment_status_replicas_unavailable", "gauge", "kube_deployment_status_replicas_unavailable",
                _labels(namespace="shop", deployment=w), 1 if ROLLOUT - 60 <= t < ROLLOUT + 60 else 0, t)
    out = []
    for family, (kind, series) in fams.items():
        out.append(f"# TYPE {family} {kind}")
        for rows in series.values():
            out.extend(rows)
    out.append("# EOF")
    return "\n".join(out) + "\n"
