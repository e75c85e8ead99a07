"""A small cluster's metrics over two days, as OpenMetrics, with the true values kept for the tests.

Memory is a gauge sampled every minute; CPU a counter whose rate changes every hour; kube-state-metrics
series every 5 minutes. The series end at END, a multiple of the 5-minute resolution, and start one
minute after END − 2d so no sample sits on the window's boundary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

END = 1_763_700_000  # 2025-11-21T04:40:00Z, a multiple of 300
WINDOW = 2 * 86400
START = END - WINDOW + 60
MI = 2**20


def esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{esc(str(v))}"' for k, v in kv.items()) + "}"


@dataclass
class PodSpec:
    namespace: str
    pod: str
    node: str
    owner_kind: str
    owner_name: str
    container: str
    requests: dict
    limits: dict
    mem_base: float  # bytes
    cpu_levels: list[float] = field(default_factory=list)  # cores, one per hour
    alive: tuple[int, int] = (START, END)  # first and last sample time
    restarts: int = 0
    usage: bool = True  # False: kube-state-metrics knows the pod, cAdvisor has no series for it
    cpu_fn: Callable[[int], float] | None = None  # cores during [t, t+60), instead of the hourly levels


def make_pods(extra_containers: int = 0, seed: int = 7) -> list[PodSpec]:
    rnd = random.Random(seed)
    hours = WINDOW // 3600 + 1

    def levels(lo, hi):
        return [rnd.uniform(lo, hi) for _ in range(hours)]

    pods = [
        PodSpec("shop", "web-5d8f-a", "n1", "ReplicaSet", "web-5d8f", "app", {"cpu": 0.5, "memory": 512 * MI}, {"memory": 1024 * MI}, 200 * MI, levels(0.05, 0.30)),
        PodSpec("shop", "web-5d8f-b", "n2", "ReplicaSet", "web-5d8f", "app", {"cpu": 0.5, "memory": 512 * MI}, {"memory": 1024 * MI}, 240 * MI, levels(0.05, 0.40)),
        # replaced after the first day: its samples belong to the same container of the same Deployment
        PodSpec("shop", "web-5d8f-old", "n1", "ReplicaSet", "web-5d8f", "app", {"cpu": 0.5, "memory": 512 * MI}, {"memory": 1024 * MI}, 300 * MI, levels(0.05, 0.20), alive=(START, START + 86400)),
        PodSpec("shop", "db-0", "n1", "StatefulSet", "db", "postgres", {"cpu": 1.0, "memory": 2048 * MI}, {"cpu": 1.0, "memory": 2048 * MI}, 1200 * MI, levels(0.1, 0.6), restarts=2),
        # a namespace whose name would break a naively built query
        PodSpec('evil"} or vector(1) #', "x-1", "n2", "ReplicaSet", "x-9", "app", {"cpu": 0.1}, {}, 50 * MI, levels(0.01, 0.02)),
        # its usage series are missing (a scrape gap, a relabelling mistake): it must not be guessed at
        PodSpec("quiet", "idle-7c9-a", "n2", "ReplicaSet", "idle-7c9", "app", {"cpu": 0.2, "memory": 256 * MI}, {}, 0, levels(0, 0), usage=False),
    ]
    for i in range(extra_containers):
        pods.append(PodSpec("bulk", f"b{i}-abc-1", "n2", "ReplicaSet", f"b{i}-abc", "app", {"cpu": 0.05}, {}, (20 + i % 50) * MI, levels(0.001, 0.01)))
    return pods


def memory_value(p: PodSpec, t: int) -> float:
    # deterministic wobble: ±25% over a day, a daily peak, whole bytes
    phase = ((t - START) % 86400) / 86400
    return float(int(p.mem_base * (1 + 0.25 * (2 * phase - 1) ** 2 + (0.3 if 0.5 <= phase < 0.52 else 0.0))))


def cpu_level(p: PodSpec, t: int) -> float:
    if p.cpu_fn is not None:
        return p.cpu_fn(t)
    return p.cpu_levels[(t - START) // 3600]


def openmetrics(pods: list[PodSpec]) -> str:
    out: list[str] = []

    def family(name: str, kind: str, rows):
        out.append(f"# TYPE {name} {kind}")
        out.extend(rows)

    def cadvisor(p):
        return labels(namespace=p.namespace, pod=p.pod, container=p.container, image="img")

    family("container_memory_working_set_bytes", "gauge", (
        f"container_memory_working_set_bytes{cadvisor(p)} {memory_value(p, t)} {t}"
        for p in pods if p.usage for t in range(p.alive[0], p.alive[1] + 1, 60)))

    def cpu_rows():
        for p in [p for p in pods if p.usage]:
            total = 0.0
            for t in range(p.alive[0], p.alive[1] + 1, 60):
                yield f"container_cpu_usage_seconds_total{cadvisor(p)} {total:.6f} {t}"
                total += cpu_level(p, t) * 60
    family("container_cpu_usage_seconds", "counter", cpu_rows())

    ksm_times = range(END - WINDOW + 300, END + 1, 300)

    def every(p, lbl, value=1):
        return (f"{lbl} {value} {t}" for t in ksm_times if p.alive[0] <= t <= p.alive[1])

    family("kube_pod_container_status_restarts", "counter", (
        row for p in pods for row in (
            f"kube_pod_container_status_restarts_total{labels(namespace=p.namespace, pod=p.pod, container=p.container)} "
            f"{p.restarts if t > START + 86400 else 0} {t}" for t in ksm_times if p.alive[0] <= t <= p.alive[1])))
    family("kube_pod_owner", "gauge", (r for p in pods for r in every(p, "kube_pod_owner" + labels(namespace=p.namespace, pod=p.pod, owner_kind=p.owner_kind, owner_name=p.owner_name))))
    family("kube_pod_info", "gauge", (r for p in pods for r in every(p, "kube_pod_info" + labels(namespace=p.namespace, pod=p.pod, node=p.node))))
    rs = {(p.namespace, p.owner_name) for p in pods if p.owner_kind == "ReplicaSet"}
    family("kube_replicaset_owner", "gauge", (
        f"kube_replicaset_owner{labels(namespace=ns, replicaset=name, owner_kind='Deployment', owner_name=name.rsplit('-', 1)[0])} 1 {t}"
        for ns, name in sorted(rs) for t in ksm_times))
    for fam, attr in (("kube_pod_container_resource_requests", "requests"), ("kube_pod_container_resource_limits", "limits")):
        family(fam, "gauge", (
            f"{fam}{labels(namespace=p.namespace, pod=p.pod, container=p.container, resource=r, unit='core' if r == 'cpu' else 'byte')} {v} {t}"
            for p in pods for r, v in getattr(p, attr).items() for t in ksm_times if p.alive[0] <= t <= p.alive[1]))
    family("kube_node_status_allocatable", "gauge", (
        f"kube_node_status_allocatable{labels(node=n, resource=r, unit=u)} {v} {t}"
        for n, cpu, mem in (("n1", 4, 16 * 2**30), ("n2", 4, 8 * 2**30))
        for r, u, v in (("cpu", "core", cpu), ("memory", "byte", mem)) for t in ksm_times))
    family("kube_node_labels", "gauge", (
        f"kube_node_labels{labels(node=n, label_kubernetes_io_arch='amd64')} 1 {t}" for n in ("n1", "n2") for t in ksm_times))
    family("kube_deployment_labels", "gauge", (
        f"kube_deployment_labels{labels(namespace='shop', deployment='web', label_helm_toolkit_fluxcd_io_name='web', label_helm_toolkit_fluxcd_io_namespace='shop')} 1 {t}"
        for t in ksm_times))
    out.append("# EOF")
    return "\n".join(out) + "\n"


def quantile(values: list[float], phi: float) -> float:
    """Prometheus's quantile_over_time: linear interpolation between closest ranks (rank = φ·(n−1))."""
    v = sorted(values)
    rank = phi * (len(v) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)


def memory_steps(p: PodSpec, step: int = 300) -> list[float]:
    """The gauge as a [2d:5m] subquery sees it: at each multiple of the step in the window, the latest sample
    at or before it, if that sample is within the 5-minute lookback (samples are on whole minutes)."""
    out = []
    for t in range(END - WINDOW + step, END + 1, step):
        if p.alive[0] <= t <= p.alive[1] + 300:
            latest = min(t, p.alive[1]) - (min(t, p.alive[1]) - p.alive[0]) % 60
            if t - latest <= 300 and latest >= p.alive[0]:
                out.append(memory_value(p, latest))
    return out
