"""The cluster source through the real `kubernetes` client against a local API-server fixture,
then combined with usage from the real Prometheus fixture into a snapshot the engine plans from."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from bot.engine.plan import build_plan
from bot.policy import build_policy
from bot.snapshot import snapshot_from_dict, snapshot_to_dict
from bot.sources.collect import collect_snapshot
from bot.sources.kubernetes import ClusterError, shape_from_api
from bot.sources.prometheus import PrometheusClient, PrometheusConfig, Scope
from tests.fixtures.kubeapi.server import FakeApiServer
from tests.sources import cluster_data as cd
from tests.sources.test_prometheus import prom  # noqa: F401  (the real Prometheus fixture)


def meta(name, ns=None, owner=None, labels=None):
    m = {"name": name, "uid": f"uid-{name}", "labels": labels or {}}
    if ns:
        m["namespace"] = ns
    if owner:
        m["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}]
    return m


def container(name, requests=None, limits=None):
    return {"name": name, "image": "img", "resources": {k: v for k, v in (("requests", requests), ("limits", limits)) if v}}


def cluster_objects():
    pods = [
        {"metadata": meta("web-5d8f-a", "shop", ("ReplicaSet", "web-5d8f")), "spec": {"nodeName": "n1", "containers": [container("app", {"cpu": "500m", "memory": "512Mi"}, {"memory": "1Gi"})]}, "status": {"phase": "Running"}},
        {"metadata": meta("web-5d8f-b", "shop", ("ReplicaSet", "web-5d8f")), "spec": {"nodeName": "n2", "containers": [container("app", {"cpu": "500m", "memory": "512Mi"}, {"memory": "1Gi"})]}, "status": {"phase": "Running"}},
        {"metadata": meta("db-0", "shop", ("StatefulSet", "db")), "spec": {"nodeName": "n1",
            "initContainers": [container("init-perms", {"cpu": "10m", "memory": "16Mi"})],
            "containers": [container("postgres", {"cpu": "1", "memory": "2Gi"}, {"cpu": "1", "memory": "2Gi"})]}, "status": {"phase": "Running"}},
        {"metadata": meta("backup-28000-x", "shop", ("Job", "backup-28000")), "spec": {"nodeName": "n2", "containers": [container("restic", {"cpu": "100m"})]}, "status": {"phase": "Succeeded"}},
        {"metadata": meta("big-0", "shop", ("StatefulSet", "big")), "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [container("app", {"cpu": "2", "memory": "12Gi"})]}, "status": {"phase": "Pending"}},
    ]
    return {
        "/api/v1/nodes": [
            {"metadata": meta("n1", labels={"kubernetes.io/arch": "amd64"}), "spec": {}, "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}},
            {"metadata": meta("n2", labels={"kubernetes.io/arch": "amd64"}), "spec": {"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}},
        ],
        "/api/v1/pods": pods,
        "/apis/apps/v1/replicasets": [{"metadata": meta("web-5d8f", "shop", ("Deployment", "web")), "spec": {"selector": {}}}],
        "/apis/apps/v1/deployments": [{"metadata": meta("web", "shop", labels={"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "flux-apps"}), "spec": {"selector": {}, "template": {}}}],
        "/apis/apps/v1/statefulsets": [],
        "/apis/apps/v1/daemonsets": [],
        "/apis/batch/v1/jobs": [{"metadata": meta("backup-28000", "shop", ("CronJob", "backup")), "spec": {"template": {}}}],
        "/apis/autoscaling/v2/horizontalpodautoscalers": [
            {"metadata": meta("web", "shop"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "minReplicas": 2, "maxReplicas": 5,
                                                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
        ],
    }


def api_for(server) -> k8s.ApiClient:
    cfg = k8s.Configuration(host=server.url)
    return k8s.ApiClient(cfg)


def test_paginated_lists_and_owner_chains():
    server = FakeApiServer(cluster_objects(), page_size=1)
    shape = shape_from_api(api_for(server))
    server.shutdown()
    pod_calls = [p for p in server.log if p.startswith("/api/v1/pods")]
    assert len(pod_calls) == 5 and all("limit=" in p for p in pod_calls)  # 5 pods, one per page: one call per page
    assert any("continue=1" in p for p in pod_calls)
    assert shape.owners[("shop", "web-5d8f-a")].kind == "Deployment" and shape.owners[("shop", "web-5d8f-a")].name == "web"
    assert (shape.owners[("shop", "backup-28000-x")].kind, shape.owners[("shop", "backup-28000-x")].name) == ("CronJob", "backup")
    assert shape.requests[("shop", "db-0", "postgres", "cpu")] == 1.0 and ("shop", "db-0", "init-perms") in shape.init
    assert ("shop", "backup-28000-x", "n2") not in shape.pods_now  # finished pods are not placed anywhere
    assert shape.helm[("shop", "web")].namespace == "flux-apps"
    assert shape.hpas[("shop", "Deployment", "web")].utilization_resources == ("cpu",)
    assert [n.name for n in shape.nodes] == ["n1", "n2"] and shape.nodes[1].taints[0].key == "dedicated"
    (pend,) = shape.pending
    assert (pend.requests.cpu, pend.requests.memory) == (2000, 12 * 2**30) and pend.node_selector == {"disk": "ssd"}


def test_missing_permission_is_a_warning_for_extras_and_an_error_for_pods():
    server = FakeApiServer(cluster_objects(), errors={"/apis/autoscaling/v2/horizontalpodautoscalers": 403})
    shape = shape_from_api(api_for(server))
    assert shape.hpas == {} and any("horizontalpodautoscalers" in w and "403" in w for w in shape.warnings)
    server.shutdown()
    server = FakeApiServer(cluster_objects(), errors={"/api/v1/pods": 403})
    with pytest.raises(ClusterError, match="refused to list pods \\(HTTP 403"):
        shape_from_api(api_for(server))
    server.shutdown()


def test_prometheus_usage_plus_api_shape_feeds_the_engine(prom):  # noqa: F811
    server = FakeApiServer(cluster_objects())
    snap = collect_snapshot(PrometheusClient(PrometheusConfig(prom)), Scope("2d", "5m", namespaces=("shop",)), at=cd.END,
                            cluster=lambda: shape_from_api(api_for(server)))
    server.shutdown()
    assert snapshot_from_dict(snapshot_to_dict(snap)) == snap
    web = next(w for w in snap.workloads if w.name == "web")
    assert web.hpa.name == "web" and web.helm_release.name == "web"
    assert sorted(p.node for p in web.pods) == ["n1", "n2"]
    assert [p.name for p in snap.pending_pods] == ["big-0"]
    policy = build_policy([("t.yaml", None, {"defaults": {"coverage": {"required": "1d"}}})], "t.yaml")
    plan = build_plan(snap, policy)
    d = next(d for d in plan.decisions if d.key == "shop/web/app")
    # an HPA scales web on CPU: its CPU request stays; memory (p99 of the busiest replica ≈ 300Mi+) shrinks from 512Mi
    assert d.recommendation.proposed.requests.cpu == 500
    assert d.recommendation.proposed.requests.memory < 512 * 2**20
