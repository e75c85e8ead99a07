"""The cluster-aware guards, through build_plan, on tiny clusters whose arithmetic is done by hand.

A neutral policy makes the estimator's target exactly the p95 usage (no margin, no max step, no deadband,
rounding to the nearest 1m / 1Mi, limits kept), so every number below is usage or a bound the guard sets.
"""

from bot.engine.plan import BLOCKED, SELECTED, SKIPPED, UNCHANGED, build_plan
from bot.model import (
    FluxRef, FluxStatus, HelmReleaseRef, LimitRange, LimitRangeItem, ResourceQuota, Resources, Rollout, Snapshot, Vpa, VpaContainer,
)
from bot.policy import build_policy
from tests.unit.helpers import GI, MI, container, node, pct, spec, workload

NEUTRAL = {
    "percentile": "p95", "margin": 0, "burst": {"threshold": 100, "headroom": 0}, "min": None, "maxIncreasePercent": 10000,
    "maxDecreasePercent": 100, "deadband": {"percent": 0, "absolute": 0}, "limit": {"mode": "keep"},
}


def policy(extra=None):
    data = {
        "defaults": {
            "cpu": {**{k: v for k, v in NEUTRAL.items() if k != "min"}, "round": {"step": "1m", "direction": "nearest"}},
            "memory": {**{k: v for k, v in NEUTRAL.items() if k != "min"}, "round": {"step": "1Mi", "direction": "nearest"}},
            "coverage": {"required": "0s"}, "confidence": {"maxWiden": 0},
            "guards": {"restart": False, "oomBumpPercent": 0, "throttleBumpPercent": 0},
            **(extra or {}),
        },
        "budgets": {"cluster": {"cpu": 100, "memory": 100}, "node": {"cpu": 100, "memory": 100}},
    }
    return build_policy([("test.yaml", None, data)], "test.yaml")


def snap(workloads, **objects):
    return Snapshot(1, "2026-11-22T00:00:00Z", "14d", 14 * 86400, (node("n1", 64000, 256 * GI),), tuple(workloads), **objects)


def app(name, *, cpu_req=100, cpu_use=0.1, mem_req=256 * MI, mem_use=256 * MI, cpu_lim=None, mem_lim=None, ns="shop", pods=1, **kw):
    """One container "app"; usage equal to the request leaves a value unchanged under the neutral policy."""
    c = container(resources=spec(cpu_req, mem_req, cpu_lim, mem_lim), cpu=pct(cpu_use), memory=pct(mem_use))
    return workload(name, [c], nodes=("n1",) * pods, ns=ns, **kw)


def one(plan, ref):
    return next(d for d in plan.decisions if d.key == ref)


def steps(d, name):
    return [s for s in d.recommendation.steps if s.name == name]


# --- LimitRange ----------------------------------------------------------------------

def test_limit_range_max_caps_the_request_and_the_limit():
    # p95 700Mi → request 700Mi; the kept 512Mi limit is raised to the request (limit ≥ request) → 700Mi.
    # The LimitRange's Container max of 600Mi caps both: 600Mi / 600Mi.
    lr = LimitRange("shop", "bounds", (LimitRangeItem("Container", max=Resources(memory=600 * MI)),))
    plan = build_plan(snap([app("web", mem_use=700 * MI, mem_lim=512 * MI)], limit_ranges=(lr,)), policy())
    d = one(plan, "shop/web/app")
    assert d.status == SELECTED
    assert (d.recommendation.proposed.requests.memory, d.recommendation.proposed.limits.memory) == (600 * MI, 600 * MI)
    assert d.recommendation.target.requests.memory == 600 * MI  # the long run ends at the bound too: no "converging" line
    texts = [s.text for s in steps(d, "LimitRange")]
    assert texts == ["LimitRange shop/bounds (Container): limit capped at the max → 600Mi",
                     "LimitRange shop/bounds (Container): request capped at the max → 600Mi"]


def test_max_limit_request_ratio_lifts_the_request():
    # CPU p95 0.1 cores → request 100m under a kept 1000m limit: 1000 / 100 = 10 > ratio 4.
    # The request is lifted to ⌈1000 / 4⌉ = 250m. Memory is at its usage: unchanged.
    lr = LimitRange("shop", "ratio", (LimitRangeItem("Container", max_ratio={"cpu": 4.0}),))
    plan = build_plan(snap([app("api", cpu_req=500, cpu_lim=1000, cpu_use=0.1)], limit_ranges=(lr,)), policy())
    d = one(plan, "shop/api/app")
    assert d.recommendation.proposed.requests.cpu == 250 and d.recommendation.proposed.limits.cpu == 1000
    (step,) = steps(d, "LimitRange")
    assert step.text == "LimitRange shop/ratio (Container): request lifted to keep limit ÷ request ≤ maxLimitRequestRatio 4 → 250m"


def test_ratio_with_a_default_limit_the_file_does_not_set():
    # No limit in the file: admission adds the LimitRange's default 800m. Request 100m: 800 / 100 = 8 > 2 → ⌈800 / 2⌉ = 400m.
    lr = LimitRange("shop", "d", (LimitRangeItem("Container", default=Resources(cpu=800), max_ratio={"cpu": 2.0}),))
    plan = build_plan(snap([app("api", cpu_req=500, cpu_use=0.1)], limit_ranges=(lr,)), policy())
    assert one(plan, "shop/api/app").recommendation.proposed.requests.cpu == 400


def test_pod_max_counts_the_other_containers():
    # Pod max memory 1Gi; the sidecar keeps 400Mi; app wants p95 700Mi → at most 1024 − 400 = 624Mi.
    app_c = container("app", resources=spec(100, 300 * MI), cpu=pct(0.1), memory=pct(700 * MI))
    side = container("side", resources=spec(50, 400 * MI), cpu=pct(0.05), memory=pct(400 * MI))
    lr = LimitRange("shop", "pod", (LimitRangeItem("Pod", max=Resources(memory=GI)),))
    plan = build_plan(snap([workload("web", [app_c, side], ns="shop")], limit_ranges=(lr,)), policy())
    assert one(plan, "shop/web/app").recommendation.proposed.requests.memory == 624 * MI


def test_a_change_the_limit_range_undoes_entirely_is_skipped_with_what_to_change():
    # The request already sits at the max (600Mi) and usage wants 700Mi: nothing can change.
    lr = LimitRange("shop", "bounds", (LimitRangeItem("Container", max=Resources(memory=600 * MI)),))
    plan = build_plan(snap([app("web", mem_req=600 * MI, mem_use=700 * MI)], limit_ranges=(lr,)), policy())
    d = one(plan, "shop/web/app")
    assert d.status == SKIPPED and "LimitRange shop/bounds (Container): request capped at the max → 600Mi" in d.reason


# --- ResourceQuota ---------------------------------------------------------------------

def quota(used_mi, hard_mi=1000):
    return ResourceQuota("tight", "compute", {"requests.memory": hard_mi * MI}, {"requests.memory": used_mi * MI})


def test_quota_holds_back_one_of_two_upsizes():
    # Quota: 850Mi of 1000Mi used → 150Mi headroom.
    # a: 1 pod 300Mi → 400Mi, +100Mi, pressure 400/300 = 1.33 (goes first): 950Mi, fits.
    # b: 2 pods 300Mi → 350Mi, +50Mi each = +100Mi, pressure 1.17: 1050Mi > 1000Mi → blocked, 50Mi short.
    a = app("a", ns="tight", mem_req=300 * MI, mem_use=400 * MI)
    b = app("b", ns="tight", mem_req=300 * MI, mem_use=350 * MI, pods=2)
    plan = build_plan(snap([a, b], resource_quotas=(quota(850),)), policy())
    assert one(plan, "tight/a/app").status == SELECTED
    d = one(plan, "tight/b/app")
    assert d.status == BLOCKED
    (s,) = d.block.shortfalls
    assert (s.node, s.quota_key, s.used, s.budget, s.short) == ("quota tight/compute", "requests.memory", 1050 * MI, 1000 * MI, 50 * MI)
    assert d.block.fits_on is None and not d.block.needs_nodes  # another node would not help
    # The quota table: 850Mi used, a's +100Mi in this PR → 950Mi of 1000Mi.
    (use,) = plan.quotas
    assert (use.key, use.before, use.after, use.hard) == ("requests.memory", 850 * MI, 950 * MI, 1000 * MI)
    assert ("ResourceQuota tight/compute requests.memory would be 1050Mi against its hard 1000Mi: 50Mi short" in d.reason
            and "Raise the hard requests.memory of ResourceQuota tight/compute, or free room in namespace tight." in d.reason and "add a node" not in d.reason)


def test_a_downsize_in_the_namespace_frees_quota_for_the_second_chance():
    # As above, plus c: 300Mi → 200Mi (−100Mi). Upsizes go first: a to 950Mi; b (+100Mi) waits.
    # The downsize brings the namespace to 850Mi; b's second chance: 950Mi ≤ 1000Mi → selected.
    a = app("a", ns="tight", mem_req=300 * MI, mem_use=400 * MI)
    b = app("b", ns="tight", mem_req=300 * MI, mem_use=350 * MI, pods=2)
    c = app("c", ns="tight", mem_req=300 * MI, mem_use=200 * MI)
    plan = build_plan(snap([a, b, c], resource_quotas=(quota(850),)), policy())
    assert {d.key for d in plan.selected} == {"tight/a/app", "tight/b/app", "tight/c/app"}
    assert "fits once this PR's downsizes are in" in one(plan, "tight/b/app").notes


def test_quota_holds_back_only_the_resource_it_bounds():
    # b also wants CPU 100m → 200m (pressure 2.0); a's CPU 100m → 300m (pressure 3.0) keeps a first, so a's
    # memory takes the namespace to 950Mi as before. The quota bounds only memory: b's CPU goes in, its memory is held back.
    a = app("a", ns="tight", mem_req=300 * MI, mem_use=400 * MI, cpu_use=0.3)
    b = app("b", ns="tight", mem_req=300 * MI, mem_use=350 * MI, pods=2, cpu_use=0.2)
    plan = build_plan(snap([a, b], resource_quotas=(quota(850),)), policy())
    d = one(plan, "tight/b/app")
    assert d.status == SELECTED and d.recommendation.proposed.requests.cpu == 200
    assert d.recommendation.proposed.requests.memory == 300 * MI and d.wanted.requests.memory == 350 * MI
    assert d.block.held == ("memory",)


# --- VPA -----------------------------------------------------------------------------

def vpa(mode, containers=()):
    return Vpa("shop", "web-vpa", "Deployment", "web", mode, tuple(containers))


def test_vpa_in_an_active_mode_skips_its_target():
    for mode in ("Auto", "Recreate", "InPlaceOrRecreate", "Initial"):
        plan = build_plan(snap([app("web", mem_use=400 * MI)], vpas=(vpa(mode),)), policy())
        d = one(plan, "shop/web/app")
        assert d.status == SKIPPED and d.recommendation is None
        assert d.reason.startswith(f"VPA shop/web-vpa (updateMode {mode}) also sets this container's resources")
        assert "Set its updateMode (or this container's mode) to Off" in d.reason


def test_vpa_auto_that_leaves_the_container_alone_is_a_second_opinion():
    theirs = VpaContainer("app", "Off", Resources(150, 380 * MI))
    plan = build_plan(snap([app("web", mem_use=400 * MI)], vpas=(vpa("Auto", [theirs]),)), policy())
    d = one(plan, "shop/web/app")
    assert d.status == SELECTED and d.recommendation.proposed.requests.memory == 400 * MI
    assert [s.text for s in steps(d, "VPA")] == [
        "second opinion: VPA shop/web-vpa (updateMode Auto, Off for this container) recommends 150m; this PR's request is 100m",
        "second opinion: VPA shop/web-vpa (updateMode Auto, Off for this container) recommends 380Mi; this PR's request is 400Mi",
    ]


def test_vpa_off_is_shown_next_to_our_value():
    plan = build_plan(snap([app("web", mem_use=400 * MI)], vpas=(vpa("Off", [VpaContainer("*", None, Resources(memory=420 * MI))]),)), policy())
    d = one(plan, "shop/web/app")
    (step,) = steps(d, "VPA")
    assert step.value == 420 * MI and step.text.endswith("recommends 420Mi; this PR's request is 400Mi")


# --- Flux readiness and rollouts ------------------------------------------------------

def test_helm_release_not_ready_skips():
    hr = FluxStatus("HelmRelease", "flux-apps", "web", "False", "UpgradeFailed", "timed out waiting for the condition")
    w = app("web", mem_use=400 * MI, helm_release=HelmReleaseRef("web", "flux-apps"))
    d = one(build_plan(snap([w], flux=(hr,)), policy()), "shop/web/app")
    assert d.status == SKIPPED and d.reason == ("HelmRelease flux-apps/web is not Ready (UpgradeFailed: timed out waiting for the "
                                                "condition): try again next run, once Flux reconciles it")


def test_kustomization_reconciling_skips_and_a_ready_one_does_not():
    ref = FluxRef("Kustomization", "apps", "flux-system")
    w = app("web", mem_use=400 * MI, kustomization=ref)
    unknown = FluxStatus("Kustomization", "flux-system", "apps", "Unknown", "Progressing")
    assert one(build_plan(snap([w], flux=(unknown,)), policy()), "shop/web/app").status == SKIPPED
    ready = FluxStatus("Kustomization", "flux-system", "apps", "True", "ReconciliationSucceeded")
    assert one(build_plan(snap([w], flux=(ready,)), policy()), "shop/web/app").status == SELECTED


def test_a_rollout_in_progress_skips():
    w = app("web", mem_use=400 * MI, rollout=Rollout(desired=3, updated=1, ready=3))
    d = one(build_plan(snap([w]), policy()), "shop/web/app")
    assert d.status == SKIPPED and d.reason == "Deployment rollout in progress (1 of 3 pods updated, 3 ready): try again next run"
    done = app("web", mem_use=400 * MI, rollout=Rollout(desired=3, updated=3, ready=3))
    assert one(build_plan(snap([done]), policy()), "shop/web/app").status == SELECTED
    # All pods on the new spec, one not ready (crash-looping on OOM kills, say): not a rollout, the fix goes ahead.
    crashing = app("web", mem_use=400 * MI, rollout=Rollout(desired=3, updated=3, ready=2))
    assert one(build_plan(snap([crashing]), policy()), "shop/web/app").status == SELECTED
    unseen = app("web", mem_use=400 * MI, rollout=Rollout(desired=3, updated=3, ready=3, generation_observed=False))
    assert "new spec not yet observed" in one(build_plan(snap([unseen]), policy()), "shop/web/app").reason


# --- opt-out ---------------------------------------------------------------------------

def test_annotation_true_skips_the_workload():
    w = app("web", mem_use=400 * MI, annotations={"rightsizer.io/skip": "true"})
    d = one(build_plan(snap([w]), policy()), "shop/web/app")
    assert d.status == SKIPPED
    assert d.reason == 'opted out by the annotation rightsizer.io/skip: "true" on the Deployment: remove it to let Rightsizer size this workload'


def test_label_memory_keeps_memory_and_sizes_cpu():
    # CPU 100m → p95 200m; memory wants 400Mi but is kept at 256Mi.
    w = app("web", mem_use=400 * MI, cpu_use=0.2, labels={"rightsizer.io/skip": "memory"})
    d = one(build_plan(snap([w]), policy()), "shop/web/app")
    assert d.status == SELECTED
    assert (d.recommendation.proposed.requests.cpu, d.recommendation.proposed.requests.memory) == (200, 256 * MI)
    (step,) = steps(d, "opt-out")
    assert step.resource == "memory" and step.text == 'memory kept: opted out by the label rightsizer.io/skip: "memory" on the Deployment'


def test_opting_out_of_the_only_resource_that_would_change_is_a_skip_not_already_right():
    w = app("web", mem_use=400 * MI, annotations={"rightsizer.io/skip": "memory"})
    d = one(build_plan(snap([w]), policy()), "shop/web/app")
    assert d.status == SKIPPED and "memory kept: opted out by the annotation" in d.reason
    quiet = app("web", annotations={"rightsizer.io/skip": "memory"})  # nothing wanted a change: already right
    assert one(build_plan(snap([quiet]), policy()), "shop/web/app").status == UNCHANGED


def test_policy_skip_per_resource():
    w = app("web", mem_use=400 * MI, cpu_use=0.2)
    d = one(build_plan(snap([w]), policy({"skip": ["cpu"]})), "shop/web/app")
    assert (d.recommendation.proposed.requests.cpu, d.recommendation.proposed.requests.memory) == (100, 400 * MI)
    assert steps(d, "opt-out")[0].text == "cpu kept: opted out by the policy (skip: cpu)"


# --- the report ------------------------------------------------------------------------

def test_each_guard_shows_in_the_pr_and_in_report_json():
    from bot.report.json_report import report_dict
    from bot.report.markdown import render_pr_body

    lr = LimitRange("shop", "bounds", (LimitRangeItem("Container", max=Resources(memory=600 * MI)),))
    workloads = [
        app("capped", mem_use=700 * MI),
        app("web", mem_use=400 * MI),
        app("auto", mem_use=400 * MI),
        app("quiet", mem_use=400 * MI, annotations={"rightsizer.io/skip": "true"}),
        app("a", ns="tight", mem_req=300 * MI, mem_use=400 * MI),
        app("b", ns="tight", mem_req=300 * MI, mem_use=350 * MI, pods=2),
    ]
    vpas = (vpa("Off", [VpaContainer("app", None, Resources(memory=420 * MI))]),
            Vpa("shop", "auto-vpa", "Deployment", "auto", "Auto"))
    plan = build_plan(snap(workloads, limit_ranges=(lr,), vpas=vpas, resource_quotas=(quota(850),)), policy())
    body = render_pr_body(plan)
    assert "- **memory request · LimitRange**: LimitRange shop/bounds (Container): request capped at the max → 600Mi" in body
    assert ("- **memory request · VPA**: second opinion: VPA shop/web-vpa (updateMode Off) recommends 420Mi; "
            "this PR's request is 400Mi") in body
    blocked = body.split("### Blocked: does not fit")[1].split("###")[0]
    assert "`tight/b/app` — does not fit: ResourceQuota tight/compute requests.memory would be 1050Mi" in blocked
    skipped = body.split("### Skipped")[1].split("###")[0]
    assert "`shop/auto/app` — VPA shop/auto-vpa (updateMode Auto) also sets" in skipped
    assert '`shop/quiet/app` — opted out by the annotation rightsizer.io/skip: "true"' in skipped
    report = {d["ref"]: d for d in report_dict(plan)["decisions"]}
    assert report["shop/capped/app"]["guards"] == ["LimitRange"]
    assert report["shop/web/app"]["guards"] == ["VPA"]
    assert report["shop/auto/app"]["guards"] == ["VPA"] and report["shop/auto/app"]["status"] == SKIPPED
    assert report["shop/quiet/app"]["guards"] == ["opt-out"]
    assert report["tight/b/app"]["guards"] == ["ResourceQuota"]
    assert report["tight/b/app"]["block"]["shortfalls"][0]["quotaKey"] == "requests.memory"
    assert report["tight/a/app"]["guards"] == []


# --- the snapshot fields -----------------------------------------------------------------

GUARDED = """
version: 1
collectedAt: "2026-11-22T06:00:00Z"
window: 14d
nodes: [{name: n1, allocatable: {cpu: "4", memory: 16Gi}}]
workloads:
  - kind: Deployment
    namespace: shop
    name: web
    kustomization: {name: apps, namespace: flux-system}
    rollout: {desired: 2, updated: 2, ready: 2}
    containers: [{name: app, requests: {cpu: 100m}}]
limitRanges:
  - namespace: shop
    name: bounds
    limits: [{type: Container, max: {memory: 512Mi}, maxLimitRequestRatio: {cpu: "1500m"}}]
resourceQuotas:
  - {namespace: shop, name: compute, hard: {cpu: "2", limits.memory: 4Gi, pods: "10"}, used: {cpu: 500m}}
verticalPodAutoscalers:
  - namespace: shop
    name: web
    targetRef: {kind: Deployment, name: web}
    updateMode: Off
    containers: [{name: app, target: {cpu: 120m}}]
fluxStatus:
  - {kind: Kustomization, namespace: flux-system, name: apps, ready: "True"}
"""


def test_guard_fields_load_and_round_trip(tmp_path):
    import json

    from bot.snapshot import load_snapshot, snapshot_from_dict, snapshot_to_dict

    f = tmp_path / "snap.yaml"
    f.write_text(GUARDED)
    s = load_snapshot(f)
    assert s.limit_ranges[0].items[0].max_ratio == {"cpu": 1.5}  # 1500m = 1.5
    # `cpu` in a quota means requests.cpu; `pods` is not a resource Rightsizer sizes
    assert s.resource_quotas[0].hard == {"requests.cpu": 2000, "limits.memory": 4 * GI} and s.resource_quotas[0].used == {"requests.cpu": 500}
    assert s.vpas[0].mode == "Off" and s.vpas[0].container("app").target.cpu == 120  # YAML 1.2: Off is a string
    assert s.workloads[0].kustomization.name == "apps"
    assert snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(s)))) == s


def test_a_bad_guard_field_names_its_line_and_field(tmp_path):
    import pytest

    from bot.errors import InputError
    from bot.snapshot import load_snapshot

    f = tmp_path / "snap.yaml"
    f.write_text(GUARDED.replace("    updateMode: Off", "    updateMode: auto"))
    with pytest.raises(InputError) as exc:
        load_snapshot(f)
    line = next(i for i, t in enumerate(f.read_text().splitlines(), 1) if t == "    updateMode: auto")
    assert (exc.value.line, exc.value.field) == (line, "verticalPodAutoscalers[0].updateMode")
