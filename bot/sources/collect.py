"""Prometheus (usage) + kube-state-metrics (cluster shape) → snapshot.

Pods are pooled into their workload (pod → ReplicaSet → Deployment, Job → CronJob,
StatefulSet, DaemonSet), so a restarted pod's new name continues the same
container. Per container, each percentile is the maximum over the workload's
pods — the busiest replica sizes the request — restarts and OOM kills are
summed, coverage is the longest any pod was seen, throttling the worst pod's.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from bot.duration import parse_duration
from bot.model import (
    Container, FluxRef, FluxStatus, HelmReleaseRef, Hpa, LimitRange, Node, PendingPod, Percentiles, Pod, ResourceQuota, Resources,
    ResourceSpec, Rollout, Snapshot, Usage, Vpa, Workload,
)
from bot.engine.guards import SKIP_KEY
from bot.snapshot import limit_range, quota_values
from bot.sources.batch import BY_NAMESPACE, BY_PODS, WHOLE, Runner
from bot.sources.prometheus import (
    CPU, CPU_MAX_EARLIER, PrometheusClient, Scope, SourceError, TooBig, cluster_queries, guard_queries, probe_method,
    usage_queries,
)

Key = tuple[str, str, str]  # namespace, pod, container


def _vector(result: list[dict[str, Any]], *labels: str) -> dict[tuple, float]:
    out = {}
    for r in result:
        metric = r.get("metric", {})
        try:
            value = float(r["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if not math.isfinite(value):  # NaN (0/0 throttling on an idle container), ±Inf (a broken exporter)
            continue
        key = tuple(metric.get(l, "") for l in labels)
        out[key] = max(value, out.get(key, value))  # a series given twice (the halves of a window): the larger, as `max by`
    return out


@dataclass
class _Owner:
    kind: str
    name: str


@dataclass
class Shape:
    """The cluster's objects, from kube-state-metrics or from the Kubernetes API."""

    owners: dict[tuple[str, str], _Owner]
    requests: dict[tuple, float]  # (namespace, pod, container, resource) → cores or bytes
    limits: dict[tuple, float]
    pods_now: dict[tuple, float]  # (namespace, pod, node) of pods that exist now
    helm: dict[tuple[str, str], HelmReleaseRef]
    nodes: tuple[Node, ...]
    hpas: dict[tuple[str, str, str], Hpa] = field(default_factory=dict)
    init: frozenset = frozenset()  # (namespace, pod, container) that are init containers
    pending: tuple[PendingPod, ...] = ()
    warnings: list[str] = field(default_factory=list)
    # For the cluster guards; None: not collected (no permission), so kube-state-metrics may fill in.
    limit_ranges: tuple[LimitRange, ...] | None = None
    quotas: tuple[ResourceQuota, ...] | None = None
    vpas: tuple[Vpa, ...] = ()
    flux: tuple[FluxStatus, ...] = ()
    meta: dict[tuple[str, str, str], "WorkloadMeta"] = field(default_factory=dict)  # (namespace, kind, name) →


@dataclass
class WorkloadMeta:
    """What a workload object (not its pods) says: labels, rightsizer.io annotations, its Kustomization, its rollout."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    kustomization: FluxRef | None = None
    rollout: Rollout | None = None


def _owners(res: dict[str, list]) -> dict[tuple[str, str], _Owner]:
    rs = {(m["namespace"], m["replicaset"]): m for m in (r["metric"] for r in res["rs_owner"])}
    jobs = {(m["namespace"], m["job_name"]): m for m in (r["metric"] for r in res["job_owner"])}
    out = {}
    for r in res["pod_owner"]:
        m = r["metric"]
        kind, name = m.get("owner_kind", ""), m.get("owner_name", "")
        if kind == "ReplicaSet" and (m["namespace"], name) in rs and rs[(m["namespace"], name)].get("owner_kind") == "Deployment":
            kind, name = "Deployment", rs[(m["namespace"], name)]["owner_name"]
        elif kind == "Job" and (m["namespace"], name) in jobs and jobs[(m["namespace"], name)].get("owner_kind") == "CronJob":
            kind, name = "CronJob", jobs[(m["namespace"], name)]["owner_name"]
        if kind in ("", "<none>"):
            kind, name = "Pod", m["pod"]
        out[(m["namespace"], m["pod"])] = _Owner(kind, name)
    return out


def collect_snapshot(client: PrometheusClient, scope: Scope, at: float | None = None,
                     progress: Callable[[str], None] | None = None,
                     cluster: Callable[[], Shape] | None = None) -> Snapshot:
    """Usage from Prometheus; the cluster's shape from ``cluster`` (the Kubernetes API) or, without it,
    from kube-state-metrics series in the same Prometheus."""
    at = at if at is not None else time.time()
    say = progress or (lambda _m: None)
    started = time.monotonic()
    runner = Runner(client, at, say)
    queries = {}
    if cluster is None:
        # kube-state-metrics first: without it there is nothing to size, and the usage queries are the slow part.
        if not client.query(f"count(kube_node_status_allocatable{scope.selector(namespaced=False)})", at):
            raise SourceError("no kube_node_status_allocatable series: is kube-state-metrics scraped by this Prometheus?")
    method = probe_method(client, scope, at)
    say(f"CPU from {method.cpu_rule or 'rate(' + CPU + '[5m])'}; "
        + (f"cAdvisor scraped every {method.scrape_interval:g}s" if method.scrape_interval else "scrape interval unknown: coverage counted in steps"))
    say("percentiles: " + (", ".join(scope.percentiles) or "none (the policy reads only the maximum)"))
    queries.update(_splittable(lambda s: usage_queries(s, method), scope, {}))  # the slow ones first
    if cluster is None:
        owners = owners_from_index(client, scope, at)
        queries.update({name: q for name, q in _splittable(cluster_queries, scope, CLUSTER_SPLIT).items()
                        if owners is None or name not in OWNER_QUERIES})
    res = runner.run(queries, scope, started)
    res["cpu.max"] = res["cpu.max"] + res.pop(CPU_MAX_EARLIER, [])  # the two halves: _vector keeps the larger
    if cluster is not None:
        shape = cluster()
        say(f"cluster: {len(shape.nodes)} nodes, {len(shape.pods_now)} pods from the Kubernetes API")
        _guard_objects_from_ksm(client, scope, at, shape, say)
    else:
        res.update(owners or {})
        shape = shape_from_ksm(res)
    if not res["memory.max"]:
        raise SourceError("no container_memory_working_set_bytes series in the window: is cAdvisor scraped?")
    for w in shape.warnings:
        say(f"warning: {w}")
    return _drop_forged_names(_assemble(res, shape, scope, at, method.scrape_interval), say)


# Which pods, ReplicaSets and Jobs existed in the window, and their owners: always 1, so the series index
# says it all; reading their samples (max_over_time over the window) was a pass over every one of them.
OWNER_QUERIES = {"pod_owner": "kube_pod_owner", "rs_owner": "kube_replicaset_owner", "job_owner": "kube_job_owner"}


def owners_from_index(client: PrometheusClient, scope: Scope, at: float) -> dict[str, list] | None:
    """The owner series of the window from one series lookup, as rows like the instant queries'; None when the
    server refuses to list that many (the instant queries are then asked, and split as needed)."""
    sel = scope.selector()
    try:
        found = client.series(tuple(f"{metric}{sel}" for metric in OWNER_QUERIES.values()), at - parse_duration(scope.window), at)
    except TooBig:
        return None
    out: dict[str, list] = {name: [] for name in OWNER_QUERIES}
    by_metric = {metric: name for name, metric in OWNER_QUERIES.items()}
    for labels in found:
        name = by_metric.get(labels.get("__name__", ""))
        if name is not None:
            out[name].append({"metric": {k: v for k, v in labels.items() if k != "__name__"}})
    return out


def _drop_forged_names(snap: Snapshot, say: Callable[[str], None]) -> Snapshot:
    """Label values are whatever a series says: a workload whose namespace, name or container is not
    a name the API server allows (a forged or relabelled series) is left out, with a warning, so one
    such series neither breaks the snapshot nor reaches the PR's Markdown."""
    from dataclasses import replace

    from bot.snapshot import is_kubernetes_name

    kept = []
    for w in snap.workloads:
        names = (w.namespace, w.name, *(c.name for c in w.containers))
        if all(is_kubernetes_name(n) for n in names):
            hr = w.helm_release
            if hr is not None and not (is_kubernetes_name(hr.name) and is_kubernetes_name(hr.namespace)):
                hr = None
            kept.append(replace(w, helm_release=hr, pods=tuple(p for p in w.pods if is_kubernetes_name(p.name)
                                                               and (p.node is None or is_kubernetes_name(p.node)))))
        else:
            say(f"warning: left out {w.kind} {w.namespace!r}/{w.name!r}: not a Kubernetes name (a forged or relabelled series?)")
    nodes = tuple(n for n in snap.nodes if is_kubernetes_name(n.name))
    pending = tuple(p for p in snap.pending_pods if is_kubernetes_name(p.namespace) and is_kubernetes_name(p.name))
    return replace(snap, workloads=tuple(kept), nodes=nodes, pending_pods=pending)


# kube-state-metrics queries whose series lack a `pod` label split by namespace only; node series not at all.
CLUSTER_SPLIT = {"allocatable": WHOLE, "node_labels": WHOLE, "rs_owner": BY_NAMESPACE, "job_owner": BY_NAMESPACE,
                 "workload_labels": BY_NAMESPACE, "limitranges": BY_NAMESPACE, "resourcequotas": BY_NAMESPACE}


def _splittable(build_all: Callable[[Scope], dict[str, str]], scope: Scope, depth: dict[str, int]):
    """name → (the query for a given scope, how far it may be split)."""
    return {name: ((lambda s, n=name: build_all(s)[n]), depth.get(name, BY_PODS)) for name in build_all(scope)}


def _guard_objects_from_ksm(client: PrometheusClient, scope: Scope, at: float, shape: Shape, say: Callable[[str], None]) -> None:
    """LimitRanges and quotas the API would not list (no permission), from kube-state-metrics where it has them."""
    queries = guard_queries(scope)
    if shape.limit_ranges is None:
        shape.limit_ranges = limit_ranges_from_ksm(client.query(queries["limitranges"], at))
        say(f"limitranges: {len(shape.limit_ranges)} from kube-state-metrics")
    if shape.quotas is None:
        shape.quotas = quotas_from_ksm(client.query(queries["resourcequotas"], at))
        say(f"resourcequotas: {len(shape.quotas)} from kube-state-metrics")


def limit_ranges_from_ksm(result: list[dict[str, Any]]) -> tuple[LimitRange, ...]:
    """kube_limitrange{namespace, limitrange, type, resource, constraint}: cores or bytes, or a ratio."""
    items: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = {}
    for (ns, name, kind, resource, constraint), value in sorted(_vector(result, "namespace", "limitrange", "type", "resource", "constraint").items()):
        if resource in ("cpu", "memory") and constraint in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"):
            text = f"{value:g}" if constraint == "maxLimitRequestRatio" or resource == "cpu" else str(int(value))
            items.setdefault((ns, name), {}).setdefault(kind, {}).setdefault(constraint, {})[resource] = text
    return tuple(limit_range(ns, name, [{"type": kind, **spec} for kind, spec in sorted(kinds.items())])
                 for (ns, name), kinds in sorted(items.items()))


def quotas_from_ksm(result: list[dict[str, Any]]) -> tuple[ResourceQuota, ...]:
    """kube_resourcequota{namespace, resourcequota, resource, type="hard"|"used"}: cores or bytes."""
    found: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for (ns, name, resource, kind), value in sorted(_vector(result, "namespace", "resourcequota", "resource", "type").items()):
        if kind in ("hard", "used"):
            text = f"{value:g}" if resource.endswith("cpu") else str(int(value))
            found.setdefault((ns, name), {"hard": {}, "used": {}})[kind][resource] = text
    return tuple(ResourceQuota(ns, name, quota_values(v["hard"]), quota_values(v["used"])) for (ns, name), v in sorted(found.items()) if v["hard"])


def shape_from_ksm(res: dict[str, list]) -> Shape:
    helm = {}
    meta: dict[tuple[str, str, str], WorkloadMeta] = {}
    for r in res["workload_labels"]:
        m = r["metric"]
        name = m.get("deployment") or m.get("statefulset") or m.get("daemonset")
        kind = "Deployment" if m.get("deployment") else "StatefulSet" if m.get("statefulset") else "DaemonSet"
        if name and m.get("label_rightsizer_io_skip"):
            meta[(m.get("namespace", ""), kind, name)] = WorkloadMeta(labels={SKIP_KEY: m["label_rightsizer_io_skip"]})
        if name and m.get("label_helm_toolkit_fluxcd_io_name"):
            helm[(m.get("namespace", ""), name)] = HelmReleaseRef(
                m["label_helm_toolkit_fluxcd_io_name"], m.get("label_helm_toolkit_fluxcd_io_namespace") or m.get("namespace", ""))
    alloc = _vector(res["allocatable"], "node", "resource")
    labels = {r["metric"].get("node", ""): {k[len("label_"):]: v for k, v in r["metric"].items() if k.startswith("label_")} for r in res["node_labels"]}
    nodes = tuple(
        Node(n, Resources(round(alloc.get((n, "cpu"), 0) * 1000), round(alloc.get((n, "memory"), 0))), labels.get(n, {}))
        for n in sorted({n for n, _ in alloc})
    )
    return Shape(
        owners=_owners(res),
        requests=_vector(res["requests"], "namespace", "pod", "container", "resource"),
        limits=_vector(res["limits"], "namespace", "pod", "container", "resource"),
        pods_now=_vector(res["pod_info"], "namespace", "pod", "node"),
        helm=helm,
        nodes=nodes,
        limit_ranges=limit_ranges_from_ksm(res["limitranges"]),
        quotas=quotas_from_ksm(res["resourcequotas"]),
        meta=meta,
    )


def _assemble(res: dict[str, list], shape: Shape, scope: Scope, at: float, interval: float | None = None) -> Snapshot:
    step = interval or parse_duration(scope.resolution)  # coverage counts samples, or else subquery steps
    window = parse_duration(scope.window)
    sig = {name: _vector(res[name], "namespace", "pod", "container") for name in res if name.startswith(("cpu.", "memory.")) or name in ("coverage", "restarts", "oom", "throttled")}
    owners, req, lim, pods_now, helm = shape.owners, shape.requests, shape.limits, shape.pods_now, shape.helm

    # Which containers each workload has: from usage and from current requests.
    by_workload: dict[tuple[str, str, str], dict[str, list[Key]]] = defaultdict(lambda: defaultdict(list))
    keys = set(sig["memory.max"]) | {(ns, pod, c) for ns, pod, c, _ in req} | {(ns, pod, c) for ns, pod, c, _ in lim}
    for ns, pod, c in keys:
        owner = owners.get((ns, pod))
        if owner is None:
            continue  # a pod kube-state-metrics never saw: cannot tell its workload
        by_workload[(ns, owner.kind, owner.name)][c].append((ns, pod, c))

    # The pods that exist now, by workload: one pass (looking them up per workload was quadratic).
    now_by_workload: dict[tuple[str, str, str], set[tuple[str, str]]] = defaultdict(set)
    for pns, pod, node in pods_now:
        owner = owners.get((pns, pod))
        if owner is not None:
            now_by_workload[(pns, owner.kind, owner.name)].add((pod, node))

    workloads = []
    for (ns, kind, name), containers in sorted(by_workload.items()):
        current_pods = sorted(now_by_workload.get((ns, kind, name), ()))
        current_names = {p for p, _ in current_pods}
        built = []
        for cname, pkeys in sorted(containers.items()):
            live = [k for k in pkeys if k[1] in current_names] or pkeys

            def pick(table, resource):
                vals = [table.get((*k, resource)) for k in live]
                vals = [v for v in vals if v is not None]
                return max(vals) if vals else None

            def pct(prefix):
                peaks = [v for v in (sig[f"{prefix}.max"].get(k) for k in pkeys) if v is not None]
                if not peaks:
                    return None

                def measured(q):  # None: not asked for; 0.0: asked for, no value in the window
                    table = sig.get(f"{prefix}.{q}")
                    if table is None:
                        return None
                    return max((v for v in (table.get(k) for k in pkeys) if v is not None), default=0.0)

                return Percentiles(*(measured(q) for q in ("p50", "p90", "p95", "p99")), max(peaks))

            cpu_req, mem_req = pick(req, "cpu"), pick(req, "memory")
            cpu_lim, mem_lim = pick(lim, "cpu"), pick(lim, "memory")
            throttled = [sig["throttled"].get(k) for k in pkeys if sig["throttled"].get(k) is not None]
            built.append(Container(
                name=cname,
                resources=ResourceSpec(
                    Resources(None if cpu_req is None else round(cpu_req * 1000), None if mem_req is None else round(mem_req)),
                    Resources(None if cpu_lim is None else round(cpu_lim * 1000), None if mem_lim is None else round(mem_lim)),
                ),
                usage=Usage(cpu=pct("cpu"), memory=pct("memory")),
                coverage_seconds=min(window, max((sig["coverage"].get(k, 0) for k in pkeys), default=0) * step),
                restarts=int(round(sum(sig["restarts"].get(k, 0) for k in pkeys))),
                oom_kills=int(sum(1 for k in pkeys if sig["oom"].get(k, 0) >= 1)),
                cpu_throttled_ratio=max(throttled) if throttled else None,
                init=any(k in shape.init for k in pkeys),
            ))
        meta = shape.meta.get((ns, kind, name)) or WorkloadMeta()
        workloads.append(Workload(
            kind=kind, namespace=ns, name=name, replicas=max(1, len(current_pods)), containers=tuple(built),
            pods=tuple(Pod(p, node or None) for p, node in current_pods), helm_release=helm.get((ns, name)),
            hpa=shape.hpas.get((ns, kind, name)),
            labels=meta.labels, annotations=meta.annotations, kustomization=meta.kustomization, rollout=meta.rollout,
        ))
    nodes = shape.nodes
    return Snapshot(
        version=1,
        collected_at=datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        window=scope.window,
        window_seconds=parse_duration(scope.window),
        nodes=nodes,
        workloads=tuple(workloads),
        pending_pods=shape.pending,
        cluster=scope.cluster[1] if scope.cluster else None,
        limit_ranges=shape.limit_ranges or (),
        resource_quotas=shape.quotas or (),
        vpas=shape.vpas,
        flux=shape.flux,
    )
