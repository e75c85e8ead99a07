"""The cluster's shape from the Kubernetes API, with the official client.

Paginated list calls across all namespaces (one walk per resource type, never one
call per pod). Nodes and pods are required; ReplicaSets, Jobs, workloads' Flux
labels and HPAs add detail, and so do the cluster guards' objects: LimitRanges,
ResourceQuotas, VPAs (when the CRD exists), Flux HelmReleases and Kustomizations
(their Ready condition) and workloads' rollout status. A 403 on any of those is a
one-line warning naming the permission, not a failure, so a narrower role still works.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from bot import quantity
from bot.errors import RunError
from bot.engine.guards import SKIP_KEY
from bot.model import (
    FluxRef, FluxStatus, HelmReleaseRef, Hpa, Node, PendingPod, ResourceQuota, Resources, Rollout, Taint, Toleration, Vpa, VpaContainer,
)
from bot.snapshot import limit_range, quota_values
from bot.sources.collect import Shape, WorkloadMeta, _Owner

PAGE = 500
FLUX_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
KS_NAME = "kustomize.toolkit.fluxcd.io/name"
KS_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
ANNOTATION_PREFIX = "rightsizer.io/"  # the only annotations kept: others (last-applied configs) can be large
# (group, versions newest first, plural, kind): a cluster serves one or more versions of each CRD.
VPA_API = ("autoscaling.k8s.io", ("v1",), "verticalpodautoscalers", "VerticalPodAutoscaler")
FLUX_APIS = (
    ("helm.toolkit.fluxcd.io", ("v2", "v2beta2", "v2beta1"), "helmreleases", "HelmRelease"),
    ("kustomize.toolkit.fluxcd.io", ("v1", "v1beta2"), "kustomizations", "Kustomization"),
)


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


def _no_permission(what: str, status: int) -> str:
    return f"no permission to list {what} (HTTP {status}): going on without them; deploy/rbac/rightsizer-reader.yaml grants it"


def _items(fn, what: str, warnings: list[str], required: bool = False, missing: list[str] | None = None) -> list[Any]:
    try:
        return list(paged(fn))
    except ApiException as exc:
        if exc.status in (401, 403) and not required:
            warnings.append(_no_permission(what, exc.status))
            if missing is not None:
                missing.append(what)
            return []
        if exc.status == 404 and not required:
            return []
        raise ClusterError(f"the Kubernetes API refused to list {what} (HTTP {exc.status} {exc.reason})") from None
    except Exception as exc:  # connection errors carry the server address, never credentials
        raise ClusterError(f"cannot list {what} from the Kubernetes API: {type(exc).__name__}") from None


def _custom_items(custom: k8s.CustomObjectsApi, api: tuple[str, tuple[str, ...], str, str], warnings: list[str]) -> list[dict]:
    """A CRD's objects across namespaces, paginated, from the newest version the cluster serves; none when no version is."""
    group, versions, plural, _kind = api
    for version in versions:
        token, out = None, []
        try:
            while True:
                kw = {"limit": PAGE, **({"_continue": token} if token else {})}
                page = custom.list_cluster_custom_object(group, version, plural, **kw)
                out += page.get("items") or []
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    return out
        except ApiException as exc:
            if exc.status == 404:
                continue  # this version (or the CRD) is not served
            if exc.status in (401, 403):
                warnings.append(_no_permission(f"{plural}.{group}", exc.status))
                return []
            raise ClusterError(f"the Kubernetes API refused to list {plural}.{group} (HTTP {exc.status} {exc.reason})") from None
        except Exception as exc:
            raise ClusterError(f"cannot list {plural}.{group} from the Kubernetes API: {type(exc).__name__}") from None
    return []


def _ready(obj: dict) -> FluxStatus:
    m = obj.get("metadata") or {}
    cond = next((c for c in (obj.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), {})
    ready = cond.get("status") if cond.get("status") in ("True", "False") else "Unknown"
    if (obj.get("spec") or {}).get("suspend"):
        return FluxStatus(obj.get("kind", ""), m.get("namespace", ""), m.get("name", ""), "False", "Suspended", "reconciliation is suspended")
    return FluxStatus(obj.get("kind", ""), m.get("namespace", ""), m.get("name", ""), ready,
                      str(cond.get("reason") or ""), str(cond.get("message") or "")[:500])


def _vpa(obj: dict) -> Vpa | None:
    m, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    ref = spec.get("targetRef") or {}
    if not ref.get("kind") or not ref.get("name"):
        return None
    modes = {p.get("containerName"): p.get("mode") for p in (spec.get("resourcePolicy") or {}).get("containerPolicies") or ()}
    targets = {r.get("containerName"): r.get("target") or {} for r in
               ((obj.get("status") or {}).get("recommendation") or {}).get("containerRecommendations") or ()}
    containers = tuple(
        VpaContainer(name, modes.get(name), Resources(
            quantity.parse_cpu(targets[name]["cpu"]) if "cpu" in targets.get(name, {}) else None,
            quantity.parse_memory(targets[name]["memory"]) if "memory" in targets.get(name, {}) else None))
        for name in sorted(set(modes) | set(targets), key=str) if name
    )
    return Vpa(m.get("namespace", ""), m.get("name", ""), ref["kind"], ref["name"],
               (spec.get("updatePolicy") or {}).get("updateMode") or "Auto", containers)


def _rollout(kind: str, w: Any) -> Rollout | None:
    st = w.status
    if kind not in ("Deployment", "StatefulSet") or st is None or w.spec is None:
        return None
    desired = w.spec.replicas if w.spec.replicas is not None else 1
    observed = st.observed_generation is None or w.metadata.generation is None or st.observed_generation >= w.metadata.generation
    revision = kind != "StatefulSet" or not st.update_revision or st.current_revision == st.update_revision
    return Rollout(desired, st.updated_replicas or 0, st.ready_replicas or 0, observed, revision)


def _meta(kind: str, w: Any) -> WorkloadMeta:
    labels = dict(w.metadata.labels or {})
    template = (w.spec.template.metadata if w.spec and w.spec.template else None)
    annotations = {k: v for source in (template.annotations if template else None, w.metadata.annotations)
                   for k, v in (source or {}).items() if k.startswith(ANNOTATION_PREFIX)}
    if template and (template.labels or {}).get(SKIP_KEY) and SKIP_KEY not in labels:
        labels[SKIP_KEY] = template.labels[SKIP_KEY]
    ks = FluxRef("Kustomization", labels[KS_NAME], labels.get(KS_NAMESPACE, w.metadata.namespace)) if labels.get(KS_NAME) else None
    return WorkloadMeta(labels, annotations, ks, _rollout(kind, w))


def _applies_to_long_running_pods(q: Any) -> bool:
    """A quota with no scope, or only scopes every sized pod is in (NotTerminating, NotBestEffort). Others (Terminating,
    BestEffort, PriorityClass, …) count other pods, and reading them as the namespace's budget would block for nothing."""
    spec = q.spec
    scopes = set(spec.scopes or ()) if spec else set()
    selector = spec.scope_selector.match_expressions or () if spec and spec.scope_selector else ()
    return scopes <= {"NotTerminating", "NotBestEffort"} and all(
        e.scope_name in ("NotTerminating", "NotBestEffort") and e.operator == "Exists" for e in selector)


def guard_objects(api: k8s.ApiClient, warnings: list[str]) -> dict[str, Any]:
    """LimitRanges, quotas, VPAs and Flux Ready conditions; LimitRanges and quotas None when not permitted."""
    core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
    missing: list[str] = []
    ranges = tuple(
        limit_range(lr.metadata.namespace, lr.metadata.name, [
            {"type": i.type, **{key: dict(getattr(i, attr)) for key, attr in (
                ("min", "min"), ("max", "max"), ("default", "default"), ("defaultRequest", "default_request"),
                ("maxLimitRequestRatio", "max_limit_request_ratio")) if getattr(i, attr)}}
            for i in (lr.spec.limits if lr.spec else None) or ()])
        for lr in _items(core.list_limit_range_for_all_namespaces, "limitranges", warnings, missing=missing)
    )
    quotas = tuple(
        ResourceQuota(q.metadata.namespace, q.metadata.name,
                      quota_values((q.status.hard if q.status and q.status.hard else None) or (q.spec.hard if q.spec else None)),
                      quota_values(q.status.used if q.status else None))
        for q in _items(core.list_resource_quota_for_all_namespaces, "resourcequotas", warnings, missing=missing)
        if _applies_to_long_running_pods(q)
    )
    vpas = tuple(v for v in (_vpa(o) for o in _custom_items(custom, VPA_API, warnings)) if v is not None)
    flux = tuple(_ready({**o, "kind": kind}) for group, versions, plural, kind in FLUX_APIS
                 for o in _custom_items(custom, (group, versions, plural, kind), warnings))
    return {"limit_ranges": None if "limitranges" in missing else ranges,
            "quotas": None if "resourcequotas" in missing else quotas, "vpas": vpas, "flux": flux}


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
    meta: dict[tuple[str, str, str], WorkloadMeta] = {}
    for lister, what, kind in ((apps.list_deployment_for_all_namespaces, "deployments", "Deployment"),
                               (apps.list_stateful_set_for_all_namespaces, "statefulsets", "StatefulSet"),
                               (apps.list_daemon_set_for_all_namespaces, "daemonsets", "DaemonSet")):
        for w in _items(lister, what, warnings):
            labels = w.metadata.labels or {}
            meta[(w.metadata.namespace, kind, w.metadata.name)] = _meta(kind, w)
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
    return Shape(owners, requests, limits, pods_now, helm, nodes, hpas, frozenset(init), tuple(pending), warnings,
                 meta=meta, **guard_objects(api, warnings))


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
