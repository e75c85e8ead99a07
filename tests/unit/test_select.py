"""Node fit and selection, on small clusters whose arithmetic is done by hand in the comments."""

from bot.engine.fit import pod_request
from bot.engine.plan import BLOCKED, OVER_CAP, SELECTED, build_plan
from bot.model import Snapshot
from bot.policy import build_policy
from tests.unit.helpers import GI, MI, container, node, pct, spec, workload

NEUTRAL_MEMORY = {
    "percentile": "p95", "margin": 0, "maxIncreasePercent": 1000, "maxDecreasePercent": 100,
    "deadband": {"percent": 0, "absolute": 0}, "round": {"step": "1Mi", "direction": "nearest"}, "limit": {"mode": "keep"},
}


def make_policy(budget=80, max_changes=10):
    data = {
        "defaults": {"memory": NEUTRAL_MEMORY, "coverage": {"required": "0s"}, "confidence": {"maxWiden": 0},
                     "guards": {"restart": False, "oomBumpPercent": 0}},
        "budgets": {"cluster": {"cpu": budget, "memory": budget}, "node": {"cpu": budget, "memory": budget}},
        "selection": {"maxChanges": max_changes},
    }
    return build_policy([("test.yaml", None, data)], "test.yaml")


def snap(workloads, nodes):
    return Snapshot(1, "2026-11-22T00:00:00Z", "14d", 14 * 86400, tuple(nodes), tuple(workloads))


def mem_app(name, request_gi, usage_gi, where="n1"):
    return workload(name, [container(resources=spec(100, int(request_gi * GI)), memory=pct(usage_gi * GI))], nodes=(where,))


NODES = [node("n1", 10000, 10 * GI), node("n2", 10000, 10 * GI)]


def scenario():
    # n1: big 3Gi (wants 5Gi), a 2Gi (wants 1.5Gi), b 2Gi (wants 1.5Gi) → 7Gi of an 8Gi budget (80% of 10Gi).
    # n2: c 2Gi (wants 1Gi).
    # big's upsize brings n1 to 9Gi: 1Gi over. a and b free 0.5Gi each on n1 → 8Gi: fits exactly.
    # c frees 1Gi, but on n2: it cannot make room on n1.
    return snap([mem_app("big", 3, 5), mem_app("a", 2, 1.5), mem_app("b", 2, 1.5), mem_app("c", 2, 1, "n2")], NODES)


def test_two_downsizes_on_the_same_node_make_room_for_an_upsize():
    plan = build_plan(scenario(), make_policy(max_changes=10))
    selected = [d.key for d in plan.selected]
    assert selected == ["default/big/app", "default/a/app", "default/b/app", "default/c/app"]
    notes = {d.key: d.notes for d in plan.selected}
    assert "selected to make room for default/big/app" in notes["default/a/app"]
    assert "selected to make room for default/big/app" in notes["default/b/app"]
    assert not notes["default/c/app"]  # an ordinary downsize, chosen on its own merit
    n1 = next(n for n in plan.nodes if n.name == "n1")
    assert n1.before.memory == 7 * GI and n1.after.memory == 8 * GI == n1.budget.memory


def test_cap_too_small_for_upsize_plus_its_helpers_blocks_it():
    # The upsize needs 2 helpers: 3 changes > cap 2. It is blocked; the cap is filled with the best downsizes:
    # c saves 1Gi (largest), then a and b tie at 0.5Gi → a by name.
    plan = build_plan(scenario(), make_policy(max_changes=2))
    assert [d.key for d in plan.selected] == ["default/c/app", "default/a/app"]
    assert [d.key for d in plan.by_status(BLOCKED)] == ["default/big/app"]
    assert [d.key for d in plan.by_status(OVER_CAP)] == ["default/b/app"]


def test_nothing_fits_says_what_would():
    # big alone on n1 wants 9Gi > 8Gi budget, and no downsizes exist. n2 has 8Gi of budget free:
    # a 9Gi pod does not fit there either → no "fits on" hint. A 7Gi pod would (7 ≤ 8): that case names n2.
    huge = snap([mem_app("big", 3, 9)], NODES)
    plan = build_plan(huge, make_policy())
    (d,) = plan.by_status(BLOCKED)
    assert "n1 memory would be 9216Mi against a budget of 8192Mi" in d.reason
    assert "fit on n2" not in d.reason
    medium = snap([mem_app("big", 3, 7), mem_app("x", 2, 2)], NODES)  # n1: 7 + 2 = 9 > 8; n2 room 8 ≥ 7
    (d,) = build_plan(medium, make_policy()).by_status(BLOCKED)
    assert "It would fit on n2" in d.reason
    assert "1024Mi short; the node budget would have to be 90%" in d.reason  # 9Gi / 10Gi


def test_node_selector_and_taints_limit_where_it_would_fit():
    from bot.model import Taint
    tainted = [node("n1", 10000, 10 * GI), node("n2", 10000, 10 * GI, taints=(Taint("dedicated", "gpu", "NoSchedule"),))]
    s = snap([mem_app("big", 3, 7), mem_app("x", 2, 2)], tainted)
    (d,) = build_plan(s, make_policy()).by_status(BLOCKED)
    assert "fit on n2" not in d.reason


def test_cluster_budget_applies_too():
    # Two nodes, 20Gi; cluster budget 50% = 10Gi, node budget 80% = 8Gi.
    # n1: p 4Gi → wants 6Gi; n2: q 5Gi (steady). Cluster 9 → 11Gi > 10Gi: blocked although n1 (6 ≤ 8) fits.
    data = {
        "defaults": {"memory": NEUTRAL_MEMORY, "coverage": {"required": "0s"}, "guards": {"restart": False}},
        "budgets": {"cluster": {"memory": 50}, "node": {"memory": 80}},
    }
    pol = build_policy([("t.yaml", None, data)], "t.yaml")
    s = snap([mem_app("p", 4, 6), mem_app("q", 5, 5, "n2")], NODES)
    (d,) = build_plan(s, pol).by_status(BLOCKED)
    assert "cluster memory would be 11264Mi against a budget of 10240Mi" in d.reason


def test_daemonset_counts_on_every_node():
    ds = workload("agent", [container(resources=spec(100, 256 * MI), memory=pct(256 * MI))], nodes=("n1", "n2"), kind="DaemonSet")
    plan = build_plan(snap([ds], NODES), make_policy())
    assert [n.before.memory for n in plan.nodes] == [256 * MI, 256 * MI]
    assert plan.cluster.before.memory == 512 * MI


def test_pod_request_counts_init_containers_as_the_scheduler_does():
    # app 100m + sidecar 50m = 150m; init 400m alone (+ sidecar 50m) = 450m → the pod reserves 450m CPU.
    w = workload("x", [
        container("app", resources=spec(100, 100 * MI)),
        container("init", resources=spec(400, 10 * MI), init=True),
        container("proxy", resources=spec(50, 20 * MI), init=True, sidecar=True),
    ])
    specs = {c.name: c.resources for c in w.containers}
    assert pod_request(w, specs) == (450, 120 * MI)  # memory: max(100 + 20, 10 + 20) = 120Mi


def test_urgent_upsizes_go_first_even_over_cap():
    restarting = workload("oom", [container(resources=spec(100, GI), memory=pct(1.2 * GI), restarts=2)])
    plain = [mem_app(f"d{i}", 2, 1, "n2") for i in range(3)]
    pol = make_policy(max_changes=1)
    plan = build_plan(snap([restarting] + plain, [node("n1", 10000, 10 * GI), node("n2", 10000, 20 * GI)]), pol)
    assert [d.key for d in plan.selected] == ["default/oom/app"]


def test_same_input_same_plan():
    from bot.report.json_report import report_dict
    a = report_dict(build_plan(scenario(), make_policy()))
    b = report_dict(build_plan(scenario(), make_policy()))
    assert a == b


def test_selected_changes_respect_every_budget():
    plan = build_plan(scenario(), make_policy())
    for n in plan.nodes:
        assert n.after.memory <= n.budget.memory or n.after.memory <= n.before.memory
    assert all(d.status == SELECTED for d in plan.selected)


def test_memory_fix_goes_ahead_when_only_cpu_lacks_room():
    # n1 CPU allocatable 1000m, budget 80% = 800m. "hog" requests 700m CPU (steady, no usage data for CPU: kept).
    # "oom" requests 100m CPU / 1Gi and uses 0.2 cores and 1.5Gi: it wants 200m CPU and 1.5Gi.
    # CPU: 700 + 200 = 900m > 800m → the CPU part cannot go; memory 1 + 1.5... fits (8Gi budget).
    # So the memory part is selected alone, with a note naming the CPU shortfall (one node: the cluster budget too).
    hog = workload("hog", [container(resources=spec(700, GI), memory=pct(GI))])
    oom = workload("oom", [container(resources=spec(100, GI), cpu=pct(0.2), memory=pct(1.5 * GI), restarts=3)])
    data = {
        "defaults": {"memory": NEUTRAL_MEMORY, "cpu": {**NEUTRAL_MEMORY, "round": {"step": "1m", "direction": "nearest"}},
                     "coverage": {"required": "0s"}, "guards": {"restart": False}},
        "budgets": {"cluster": {"cpu": 80, "memory": 80}, "node": {"cpu": 80, "memory": 80}},
    }
    pol = build_policy([("t.yaml", None, data)], "t.yaml")
    plan = build_plan(snap([hog, oom], [node("n1", 1000, 10 * GI)]), pol)
    (d,) = [d for d in plan.selected if d.workload.name == "oom"]
    assert d.recommendation.proposed == spec(100, 1536 * MI)
    (note,) = d.notes
    assert note.startswith("cpu part held back: ") and "n1 cpu would be 900m against a budget of 800m" in note



def test_a_blocked_upsize_is_explained_on_the_projection_after_this_pr():
    # n1 (budget 8Gi): big 3Gi wants 7Gi (+4Gi), a and b 2Gi each want 1.5Gi. Before: 7Gi.
    # big alone: 7 + 4 = 11Gi, 3Gi over; a and b free only 1Gi together → big is blocked, a and b are selected.
    # After this PR n1 holds 3 + 1.5 + 1.5 = 6Gi, so big would bring it to 6 + 4 = 10Gi = 10240Mi: 2048Mi short
    # (not the 11Gi / 3Gi a projection before the downsizes would say). Budget needed: 10/10 = 100%.
    s = snap([mem_app("big", 3, 7), mem_app("a", 2, 1.5), mem_app("b", 2, 1.5)], NODES)
    plan = build_plan(s, make_policy())
    (d,) = plan.by_status(BLOCKED)
    n1 = next(n for n in plan.nodes if n.name == "n1")
    assert n1.after.memory == 6 * GI
    (short,) = d.block.shortfalls
    assert (short.node, short.used, short.short) == ("n1", n1.after.memory + 4 * GI, 2 * GI)
    assert "n1 memory would be 10240Mi against a budget of 8192Mi (2048Mi short; the node budget would have to be 100%)" in d.reason
    # n2 has 8Gi of room for a 7Gi pod: the alternative is named.
    assert d.block.fits_on == "n2" and "It would fit on n2" in d.reason


def test_a_blocked_upsize_names_the_waiting_downsizes_that_would_free_room():
    # Cap 1: big (3 → 7Gi, +4Gi on n1, 8Gi budget) needs 3Gi of room; a, b, c on n1 would free 1.5Gi each, but
    # with a cap of 1 no helper fits in the PR. The largest downsize (a, by name among equals) takes the slot.
    # After the PR n1 holds 3 + 0.5 + 2 + 2 = 7.5Gi, so big would bring it to 11.5Gi: 3.5Gi short; the waiting
    # downsizes b and c would free 1.5Gi each = 3Gi (named with their deltas).
    s = snap([mem_app("big", 3, 7), mem_app("a", 2, 0.5), mem_app("b", 2, 0.5), mem_app("c", 2, 0.5)], NODES)
    plan = build_plan(s, make_policy(max_changes=1))
    assert [d.key for d in plan.selected] == ["default/a/app"]
    (d,) = plan.by_status(BLOCKED)
    assert d.block.shortfalls[0].short == 3584 * MI
    assert [(t.key, t.frees) for t in d.block.tradeoffs] == [("default/b/app", 1536 * MI), ("default/c/app", 1536 * MI)]
    assert "the waiting downsizes on n1 would free 3072Mi memory (default/b/app −1536Mi, default/c/app −1536Mi)" in d.reason


def test_a_deployment_and_a_statefulset_with_one_name_are_two_changes():
    # Both 2Gi using 1Gi (neutral policy → 1Gi each): two downsizes; keyed by kind too, neither overwrites the other.
    dep = mem_app("web", 2, 1)
    sts = workload("web", [container(resources=spec(100, 2 * GI), memory=pct(GI))], nodes=("n2",), kind="StatefulSet")
    plan = build_plan(snap([dep, sts], NODES), make_policy())
    assert sorted((d.workload.kind, d.recommendation.proposed.requests.memory) for d in plan.selected) == [
        ("Deployment", GI), ("StatefulSet", GI)]
    assert [n.after.memory for n in plan.nodes] == [GI, GI]
