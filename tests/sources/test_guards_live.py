"""The cluster guards end to end: objects from the local API-server fixture (real `kubernetes` client) and
kube-state-metrics series in a real Prometheus, usage from the same Prometheus, then the engine and the PR text.

One small cluster, a namespace per guard:
  limited  LimitRange "bounds": Container max memory 512Mi, maxLimitRequestRatio cpu 3
           capped: memory wants more than 512Mi → capped;  ratio: CPU request falls under limit ÷ 3 → lifted
  tight    ResourceQuota "compute": requests.memory 1Gi hard, 800Mi used; a and b both upsize memory
  guards   vpa-auto (VPA Auto), vpa-off (VPA Off, a second opinion), hr-broken (HelmRelease Ready=False),
           opted-out (annotation rightsizer.io/skip: "true"), rolling (1 of 2 pods updated)
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from kubernetes import client as k8s

from bot.engine.plan import BLOCKED, SELECTED, SKIPPED, build_plan
from bot.policy import build_policy
from bot.report.json_report import report_dict
from bot.report.markdown import render_pr_body
from bot.snapshot import snapshot_from_dict, snapshot_to_dict
from bot.sources.collect import collect_snapshot
from bot.sources.kubernetes import shape_from_api
from bot.sources.prometheus import PrometheusClient, PrometheusConfig, Scope
from tests.fixtures.kubeapi.server import FakeApiServer
from tests.fixtures.prometheus.server import build_tsdb, require_prometheus, running_prometheus
from tests.sources import cluster_data as cd

MI = cd.MI
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"
SCOPE = Scope("2d", "5m")
# Enough data at 1 day; CPU limits kept and CPU requests fall at most 25% a run, so the ratio case is a hand sum.
# The sizing constants the hand sums below use are pinned here, not taken from balanced's tuning: CPU p95 × 1.15
# (flat 87m usage → 100.05m, within the deadband of a 100m request: no CPU change) and memory from p99.
POLICY = build_policy([("t.yaml", None, {"defaults": {
    "coverage": {"required": "1d"}, "cpu": {"margin": 0.15, "maxDecreasePercent": 25, "limit": {"mode": "keep"}},
    "memory": {"percentile": "p99"}}})], "t.yaml")


def pods() -> list[cd.PodSpec]:
    rnd = random.Random(16)
    hours = cd.WINDOW // 3600 + 1

    def flat(level):  # CPU steady at its request: no CPU change
        return [level] * hours

    def spec(ns, name, requests, limits, mem_mb, cpu_levels):
        return cd.PodSpec(ns, f"{name}-7f-a", "n1", "ReplicaSet", f"{name}-7f", "app", requests, limits, mem_mb * MI, cpu_levels)

    steady = {"cpu": 0.1}
    return [
        spec("limited", "capped", {**steady, "memory": 400 * MI}, {}, 600, flat(0.087)),
        spec("limited", "ratio", {"cpu": 0.4, "memory": 64 * MI}, {"cpu": 1.0}, 50, [rnd.uniform(0.01, 0.02) for _ in range(hours)]),
        spec("tight", "a", {**steady, "memory": 200 * MI}, {}, 300, flat(0.087)),
        spec("tight", "b", {**steady, "memory": 200 * MI}, {}, 250, flat(0.087)),
        *(spec("guards", name, {**steady, "memory": 128 * MI}, {}, 300, flat(0.087))
          for name in ("vpa-auto", "vpa-off", "hr-broken", "opted-out", "rolling")),
    ]


def ksm_guard_series() -> list[str]:
    """kube_limitrange and kube_resourcequota as kube-state-metrics exports them (cores, bytes), and a workload label."""
    t_all = range(cd.END - cd.WINDOW + 300, cd.END + 1, 300)
    out = ["# TYPE kube_limitrange gauge"]
    for constraint, resource, value in (("max", "memory", 512 * MI), ("maxLimitRequestRatio", "cpu", 3)):
        lbl = cd.labels(namespace="limited", limitrange="bounds", type="Container", resource=resource, constraint=constraint)
        out += [f"kube_limitrange{lbl} {value} {t}" for t in t_all]
    out.append("# TYPE kube_resourcequota gauge")
    for kind, value in (("hard", 1024 * MI), ("used", 800 * MI)):
        lbl = cd.labels(namespace="tight", resourcequota="compute", resource="requests.memory", type=kind)
        out += [f"kube_resourcequota{lbl} {value} {t}" for t in t_all]
    out.append("# TYPE kube_deployment_labels gauge")
    lbl = cd.labels(namespace="guards", deployment="opted-out", label_rightsizer_io_skip="true")
    out += [f"kube_deployment_labels{lbl} 1 {t}" for t in t_all]
    return out


def openmetrics() -> str:
    text = cd.openmetrics(pods())
    body, eof = text.rsplit("# EOF", 1)
    # cd.openmetrics already wrote a kube_deployment_labels family: ours joins it (one TYPE line per family)
    extra = ksm_guard_series()
    i = extra.index("# TYPE kube_deployment_labels gauge")
    body = body.replace("# TYPE kube_deployment_labels gauge\n", "# TYPE kube_deployment_labels gauge\n" + "\n".join(extra[i + 1:]) + "\n")
    return body + "\n".join(extra[:i]) + "\n# EOF" + eof


@pytest.fixture(scope="module")
def prom():
    require_prometheus()
    with running_prometheus(build_tsdb(openmetrics(), CACHE)) as url:
        yield url


# --- the API server's objects -------------------------------------------------------------

def meta(name, ns=None, owner=None, labels=None, annotations=None, generation=None):
    m = {"name": name, "uid": f"uid-{ns}-{name}", "labels": labels or {}, "annotations": annotations or {}}
    if ns:
        m["namespace"] = ns
    if owner:
        m["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}]
    if generation:
        m["generation"] = generation
    return m


def quantities(values: dict) -> dict:
    return {r: (f"{round(v * 1000)}m" if r == "cpu" else str(int(v))) for r, v in values.items()}


def deployment(ns, name, *, labels=None, annotations=None, updated=1, replicas=1):
    return {"metadata": meta(name, ns, labels=labels, annotations=annotations, generation=2),
            "spec": {"replicas": replicas, "selector": {}, "template": {"metadata": {}, "spec": {"containers": []}}},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": updated, "readyReplicas": replicas}}


def api_objects() -> dict[str, list[dict]]:
    specs = pods()
    workloads = {(p.namespace, p.owner_name[:-3]) for p in specs}
    flux_labels = {"helm.toolkit.fluxcd.io/name": "hr-broken", "helm.toolkit.fluxcd.io/namespace": "flux-apps"}
    special = {
        ("guards", "hr-broken"): deployment("guards", "hr-broken", labels=flux_labels),
        ("guards", "opted-out"): deployment("guards", "opted-out", annotations={"rightsizer.io/skip": "true", "other/big": "x" * 100}),
        ("guards", "rolling"): deployment("guards", "rolling", updated=1, replicas=2),
    }
    return {
        "/api/v1/nodes": [{"metadata": meta(n), "spec": {}, "status": {"allocatable": {"cpu": "4", "memory": mem}}}
                          for n, mem in (("n1", "16Gi"), ("n2", "8Gi"))],
        "/api/v1/pods": [
            {"metadata": meta(p.pod, p.namespace, ("ReplicaSet", p.owner_name)),
             "spec": {"nodeName": p.node, "containers": [{"name": p.container, "image": "img", "resources": {
                 k: quantities(v) for k, v in (("requests", p.requests), ("limits", p.limits)) if v}}]},
             "status": {"phase": "Running"}}
            for p in specs
        ],
        "/apis/apps/v1/replicasets": [{"metadata": meta(p.owner_name, p.namespace, ("Deployment", p.owner_name[:-3])), "spec": {"selector": {}}}
                                      for p in specs],
        "/apis/apps/v1/deployments": [special.get((ns, name)) or deployment(ns, name) for ns, name in sorted(workloads)],
        "/api/v1/limitranges": [{"metadata": meta("bounds", "limited"), "spec": {"limits": [
            {"type": "Container", "max": {"memory": "512Mi"}, "maxLimitRequestRatio": {"cpu": "3"}}]}}],
        "/api/v1/resourcequotas": [{"metadata": meta("compute", "tight"), "spec": {"hard": {"requests.memory": "1Gi", "pods": "10"}},
                                    "status": {"hard": {"requests.memory": "1Gi", "pods": "10"}, "used": {"requests.memory": "800Mi", "pods": "2"}}},
                                   # counts only pods with activeDeadlineSeconds (Jobs): not the Deployments' budget, not read
                                   {"metadata": meta("jobs", "tight"), "spec": {"hard": {"requests.memory": "1Mi"}, "scopes": ["Terminating"]},
                                    "status": {"hard": {"requests.memory": "1Mi"}, "used": {"requests.memory": "0"}}}],
        "/apis/autoscaling.k8s.io/v1/verticalpodautoscalers": [
            {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler", "metadata": meta(f"{name}-vpa", "guards"),
             "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "updatePolicy": {"updateMode": mode}},
             "status": {"recommendation": {"containerRecommendations": [{"containerName": "app", "target": {"cpu": "120m", "memory": "420Mi"}}]}}}
            for name, mode in (("vpa-auto", "Auto"), ("vpa-off", "Off"))
        ],
        "/apis/helm.toolkit.fluxcd.io/v2/helmreleases": [
            {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": meta("hr-broken", "flux-apps"), "spec": {},
             "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": "Helm upgrade failed: timed out"}]}},
        ],
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations": [],
    }


def collect(prom, errors=None):
    server = FakeApiServer(api_objects(), errors=errors, page_size=1)
    said: list[str] = []
    try:
        snap = collect_snapshot(PrometheusClient(PrometheusConfig(prom)), SCOPE, at=cd.END, progress=said.append,
                                cluster=lambda: shape_from_api(k8s.ApiClient(k8s.Configuration(host=server.url))))
    finally:
        server.shutdown()
    return snap, said, server.log


@pytest.fixture(scope="module")
def live(prom):
    snap, said, log = collect(prom)
    plan = build_plan(snap, POLICY)
    return snap, plan, {d.key: d for d in plan.decisions}, said, log


def test_the_guard_objects_are_listed_paginated_and_kept_in_the_snapshot(live):
    snap, _plan, _d, _said, log = live
    vpa_calls = [p for p in log if p.startswith("/apis/autoscaling.k8s.io/v1/verticalpodautoscalers?")]
    assert len(vpa_calls) == 2 and "continue=1" in vpa_calls[1]  # 2 VPAs, one per page: the custom-object pager follows `continue`
    assert snapshot_from_dict(snapshot_to_dict(snap)) == snap
    assert [(lr.namespace, lr.name) for lr in snap.limit_ranges] == [("limited", "bounds")]
    (q,) = snap.resource_quotas
    assert (q.hard, q.used) == ({"requests.memory": 1024 * MI}, {"requests.memory": 800 * MI})  # "pods" is not sized here
    assert {(v.name, v.mode) for v in snap.vpas} == {("vpa-auto-vpa", "Auto"), ("vpa-off-vpa", "Off")}
    (hr,) = snap.flux
    assert (hr.kind, hr.ready, hr.reason) == ("HelmRelease", "False", "UpgradeFailed")
    opted = next(w for w in snap.workloads if w.name == "opted-out")
    assert dict(opted.annotations) == {"rightsizer.io/skip": "true"}  # other annotations are not carried
    rolling = next(w for w in snap.workloads if w.name == "rolling")
    assert rolling.rollout.in_progress and (rolling.rollout.updated, rolling.rollout.desired) == (1, 2)


def test_limit_range_max_clamps(live):
    # capped: request 400Mi; p99 = 600Mi × 1.3 (the daily peak) = 780Mi, +15% = 897Mi; a run grows at most 100% → 800Mi;
    # the LimitRange's max memory is 512Mi → 512Mi.
    d = live[2]["limited/capped/app"]
    assert d.status == SELECTED and d.recommendation.proposed.requests.memory == 512 * MI
    assert [s.value for s in d.recommendation.steps if s.name == "max step"] == [800 * MI]
    assert any(s.text == "LimitRange limited/bounds (Container): request capped at the max → 512Mi" for s in d.recommendation.steps)


def test_max_limit_request_ratio_lifts_a_request(live):
    # ratio: CPU ~15m against a 400m request: the target is far below, a run falls 25% → 300m; the kept limit is 1000m and
    # 1000 / 300 > 3 → the request is lifted to ⌈1000 / 3⌉ = 334m.
    d = live[2]["limited/ratio/app"]
    assert d.recommendation.proposed.requests.cpu == 334 and d.recommendation.proposed.limits.cpu == 1000
    assert [s.value for s in d.recommendation.steps if s.name == "max step" and s.resource == "cpu"] == [300]


def test_quota_holds_back_one_of_two_upsizes(live):
    # Memory's p99 is the daily peak, 1.3 × the base (cd.memory_value), +15% margin (balanced):
    #   a: 300Mi × 1.3 = 390Mi → 448.5Mi; a run grows at most 100%: 200Mi → 400Mi (+200Mi), pressure 2.0 → first.
    #      The namespace goes from 800Mi to 1000Mi ≤ 1024Mi: fits.
    #   b: 250Mi × 1.3 = 325Mi → 373.8Mi → rounded up to 374Mi (+174Mi), pressure 1.87.
    #      1000Mi + 174Mi = 1174Mi > 1024Mi: blocked, 150Mi short.
    d = live[2]
    a, b = d["tight/a/app"], d["tight/b/app"]
    assert a.status == SELECTED and a.recommendation.proposed.requests.memory == 400 * MI
    assert b.status == BLOCKED and b.recommendation.proposed.requests.memory == 374 * MI
    (s,) = b.block.shortfalls
    assert (s.quota_key, s.used, s.budget, s.short) == ("requests.memory", 1174 * MI, 1024 * MI, 150 * MI)
    assert "Raise the hard requests.memory of ResourceQuota tight/compute" in b.reason


def test_vpa_auto_skipped_vpa_off_shown(live):
    d = live[2]
    assert d["guards/vpa-auto/app"].status == SKIPPED and "VPA guards/vpa-auto-vpa (updateMode Auto)" in d["guards/vpa-auto/app"].reason
    off = d["guards/vpa-off/app"]
    assert off.status == SELECTED
    body = render_pr_body(live[1])
    assert "second opinion: VPA guards/vpa-off-vpa (updateMode Off) recommends 420Mi; this PR's request is" in body


def test_helm_release_not_ready_and_rollout_skipped(live):
    d = live[2]
    assert d["guards/hr-broken/app"].reason == ("HelmRelease flux-apps/hr-broken is not Ready (UpgradeFailed: Helm upgrade failed: "
                                                 "timed out): try again next run, once Flux reconciles it")
    assert d["guards/rolling/app"].reason == "Deployment rollout in progress (1 of 2 pods updated, 2 ready): try again next run"


def test_annotation_skipped_and_every_guard_in_the_pr_and_report(live):
    _snap, plan, d, _said, _log = live
    assert d["guards/opted-out/app"].status == SKIPPED
    body = render_pr_body(plan)
    skipped = body.split("### Skipped")[1].split("###")[0]
    for ref in ("guards/vpa-auto/app", "guards/hr-broken/app", "guards/opted-out/app", "guards/rolling/app"):
        assert f"`{ref}` — " in skipped
    assert "`tight/b/app` — does not fit: ResourceQuota tight/compute" in body.split("### Blocked: does not fit")[1]
    guards = {x["ref"]: x["guards"] for x in report_dict(plan)["decisions"]}
    assert guards["limited/capped/app"] == ["LimitRange"] and guards["limited/ratio/app"] == ["LimitRange"]
    assert guards["tight/b/app"] == ["ResourceQuota"] and guards["guards/vpa-off/app"] == ["VPA"]
    assert guards["guards/vpa-auto/app"] == ["VPA"] and guards["guards/opted-out/app"] == ["opt-out"]
    assert guards["guards/hr-broken/app"] == guards["guards/rolling/app"] == ["readiness"]


def test_missing_permission_is_a_warning_and_kube_state_metrics_fills_in(prom):
    snap, said, _log = collect(prom, errors={"/api/v1/limitranges": 403, "/apis/autoscaling.k8s.io/v1/verticalpodautoscalers": 403})
    warnings = [s for s in said if s.startswith("warning:")]
    assert ("warning: no permission to list limitranges (HTTP 403): going on without them; "
            "deploy/rbac/rightsizer-reader.yaml grants it") in warnings
    assert any("no permission to list verticalpodautoscalers.autoscaling.k8s.io (HTTP 403)" in w for w in warnings)
    assert "limitranges: 1 from kube-state-metrics" in said and snap.vpas == ()
    plan = build_plan(snap, POLICY)
    d = {x.key: x for x in plan.decisions}
    assert d["limited/capped/app"].recommendation.proposed.requests.memory == 512 * MI  # the LimitRange, from kube-state-metrics
    assert d["guards/vpa-auto/app"].status == SELECTED  # without the VPA list, nothing tells us: sized (the warning says so)


def test_kube_state_metrics_only(prom):
    snap = collect_snapshot(PrometheusClient(PrometheusConfig(prom)), SCOPE, at=cd.END)
    plan = build_plan(snap, POLICY)
    d = {x.key: x for x in plan.decisions}
    assert d["limited/capped/app"].recommendation.proposed.requests.memory == 512 * MI
    assert d["limited/ratio/app"].recommendation.proposed.requests.cpu == 334
    assert d["tight/b/app"].status == BLOCKED and d["tight/b/app"].block.shortfalls[0].quota_key == "requests.memory"
    assert d["guards/opted-out/app"].status == SKIPPED and "label rightsizer.io/skip" in d["guards/opted-out/app"].reason


def test_guard_numbers_in_the_pr_agree_with_report_json(live):
    import re

    from bot.quantity import in_unit

    _snap, plan, _d, _said, _log = live
    body = render_pr_body(plan)
    report = {x["ref"]: x for x in report_dict(plan)["decisions"]}
    (s,) = report["tight/b/app"]["block"]["shortfalls"]
    m = re.search(r"`tight/b/app` — does not fit: ResourceQuota tight/compute requests.memory would be (\S+) against its hard (\S+): (\S+) short", body)
    assert m.groups() == (in_unit("memory", s["used"]), in_unit("memory", s["budget"]), in_unit("memory", s["short"]))
    vpa = next(st for st in report["guards/vpa-off/app"]["steps"] if st["step"] == "VPA" and st["resource"] == "memory")
    ours = report["guards/vpa-off/app"]["proposed"]["requests"]["memory"]
    assert (f"recommends {in_unit('memory', vpa['value'])}; this PR's request is {in_unit('memory', ours)}") in body
    # the quota table: 800Mi used, a's +200Mi in this PR → 1000Mi of 1024Mi (report.json has the same bytes)
    (q,) = report_dict(plan)["quotas"]
    assert (q["key"], q["before"], q["after"], q["hard"]) == ("requests.memory", 800 * MI, 1000 * MI, 1024 * MI)
    row = f"| `tight/compute` | requests.memory | {in_unit('memory', q['before'])} → {in_unit('memory', q['after'])} | {in_unit('memory', q['hard'])} |"
    assert row == "| `tight/compute` | requests.memory | 800Mi → 1000Mi | 1024Mi |" and row in body
    capped = next(st for st in report["limited/capped/app"]["steps"] if st["step"] == "LimitRange")
    assert capped["value"] == report["limited/capped/app"]["proposed"]["requests"]["memory"] and capped["text"] in body
