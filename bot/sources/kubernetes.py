"""The cluster's shape from the Kubernetes API, with the official client.

Paginated list calls across all namespaces (one walk per resource type, never one
call per pod). Nodes and pods are required; ReplicaSets, Jobs, workloads' Flux
labels and HPAs add detail, and a 403 on any of those is a warning, not a failure,
so a narrower role still works.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from bot import quantity
from bot.errors import RunError
from bot.model import HelmReleaseRef, Hpa, Node, PendingPod, Resources, Taint, Toleration
from bot.sources.collect import Shape, _Owner

PAGE = 500
FLUX_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"


class ClusterError(RunError):
    pass


def paged(fn: Callable[..., Any], **kw) -> Iterator[Any]:
    token = None
    while True:
        page = fn(limit=PAGE, _continue=token, **kw) if token else fn(limit=PAGE, **kw)
        yield from page.items or []
        token = page.metadata._continue if page.metadata else None
        if not token:
            return


def _items(fn, what: str, warnings: list[str], required: bool = False) -> list[Any]:
    try:
        return list(paged(fn))
    except ApiException as exc:
        if exc.status in (401, 403) and not required:
            warnings.append(f"no permission to list {what} (HTTP {exc.status}): going on without them")
            return []
        if exc.status == 404 and not required:
            return []
        raise ClusterError(f"the Kubernetes API refused to list {what} (HTTP {exc.status} {exc.reason})") from None
    except Exception as exc:  # connection errors carry the server address, never credentials
        raise ClusterError(f"cannot list {what} from the Kubernetes API: {type(exc).__name__}") from None


def _q(resource: str, value: Any) -> float:
    """cores or bytes, as kube-state-metrics reports them, so both sources feed the same assembly."""
    return quantity.parse(resource, value) / (1000 if resource == "cpu" else 1)


def shape_from_api(api: k8s.ApiClient) -> Shape:
    core, apps, batch = k8s.CoreV1Api(api), k8s.AppsV1Api(api), k8s.BatchV1Api(api)
    warnings: list[str] = []
    nodes_raw = _items(core.list_node, "nodes", warnings, required=True)
    pods_raw = _items(core.list_pod_for_all_namespaces, "pods", warnings, required=True)
    rs_owner = {(r.metadata.namespace, r.metadata.name): r.metadata.owner_references[0]
                for r in _items(apps.list_replica_set_for_all_namespaces, "replicasets", warnings)
                if r.metadata.owner_references}
    job_owner = {(j.metadata.namespace, j.metadata.name): j.metadata.owner_references[0]
                 for j in _items(batch.list_job_for_all_namespaces, "jobs", warnings)
                 if j.metadata.owner_references}
    helm: dict[tuple[str, str], HelmReleaseRef] = {}
    for lister, what in ((apps.list_deployment_for_all_namespaces, "deployments"),
                         (apps.list_stateful_set_for_all_namespaces, "statefulsets"),
                         (apps.list_daemon_set_for_all_namespaces, "daemonsets")):
        for w in _items(lister, what, warnings):
            labels = w.metadata.labels or {}
            if labels.get(FLUX_NAME):
                helm[(w.metadata.namespace, w.metadata.name)] = HelmReleaseRef(labels[FLUX_NAME], labels.get(FLUX_NAMESPACE, w.metadata.namespace))
    hpas: dict[tuple[str, str, str], Hpa] = {}
    for h in _items(k8s.AutoscalingV2Api(api).list_horizontal_pod_autoscaler_for_all_namespaces, "horizontalpodautoscalers", warnings):
        ref = h.spec.scale_target_ref
        resources = tuple(sorted({
            m.resource.name for m in (h.spec.metrics or [])
            if m.type == "Resource" and m.resource and m.resource.target and m.resource.target.type == "Utilization"
        }))
        hpas[(h.metadata.namespace, ref.kind, ref.name)] = Hpa(h.metadata.name, h.spec.min_replicas or 1, h.spec.max_replicas, resources)

    owners: dict[tuple[str, str], _Owner] = {}
    requests: dict[tuple, float] = {}
    limits: dict[tuple, float] = {}
    pods_now: dict[tuple, float] = {}
    init: set[tuple[str, str, str]] = set()
    pending: list[PendingPod] = []
    for p in pods_raw:
        ns, name = p.metadata.namespace, p.metadata.name
        ref = (p.metadata.owner_references or [None])[0]
        kind, oname = (ref.kind, ref.name) if ref else ("Pod", name)
        if kind == "ReplicaSet" and (ns, oname) in rs_owner:
            kind, oname = rs_owner[(ns, oname)].kind, rs_owner[(ns, oname)].name
        elif kind == "Job" and (ns, oname) in job_owner:
            kind, oname = job_owner[(ns, oname)].kind, job_owner[(ns, oname)].name
        owners[(ns, name)] = _Owner(kind, oname)
        phase = (p.status.phase if p.status else None) or "Unknown"
        if phase in ("Succeeded", "Failed"):
            continue
        pods_now[(ns, name, p.spec.node_name or "")] = 1.0
        for c, is_init in [(c, False) for c in p.spec.containers or []] + [(c, True) for c in p.spec.init_containers or []]:
            if is_init:
                init.add((ns, name, c.name))
            res = c.resources
            for table, values in ((requests, res.requests if res else None), (limits, res.limits if res else None)):
                for r in ("cpu", "memory"):
                    if values and r in values:
                        table[(ns, name, c.name, r)] = _q(r, values[r])
        if phase == "Pending" and not p.spec.node_name:
            req = [c.resources.requests or {} for c in p.spec.containers or [] if c.resources]
            pending.append(PendingPod(
                ns, name,
                Resources(sum(quantity.parse_cpu(r["cpu"]) for r in req if "cpu" in r), sum(quantity.parse_memory(r["memory"]) for r in req if "memory" in r)),
                workload=f"{kind}/{oname}",
                node_selector=dict(p.spec.node_selector or {}),
                tolerations=tuple(Toleration(t.key, t.operator or "Equal", t.value, t.effect) for t in p.spec.tolerations or []),
            ))
    nodes = tuple(
        Node(
            n.metadata.name,
            Resources(quantity.parse_cpu(n.status.allocatable["cpu"]), quantity.parse_memory(n.status.allocatable["memory"])),
            dict(n.metadata.labels or {}),
            tuple(Taint(t.key, t.value, t.effect) for t in (n.spec.taints or [])),
            bool(n.spec.unschedulable),
        )
        for n in sorted(nodes_raw, key=lambda n: n.metadata.name)
    )
    return Shape(owners, requests, limits, pods_now, helm, nodes, hpas, frozenset(init), tuple(pending), warnings)


def api_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """From a kubeconfig file, or the in-cluster service account when none is given and we run in a pod."""
    from kubernetes import config

    try:
        if kubeconfig:
            return config.new_client_from_config(config_file=kubeconfig, context=context)
        config.load_incluster_config()
        return k8s.ApiClient()
    except Exception as exc:  # a bad kubeconfig must not print its contents
        raise ClusterError(f"cannot load Kubernetes credentials: {type(exc).__name__}") from None
