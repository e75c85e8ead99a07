"""Node-pool proposals from placement simulation (issue 6), on clusters small enough to check by hand.

Every node below has 10Gi allocatable memory and a budget of 80% = 8Gi (CPU is never the constraint).
"""

from bot.engine.nodepools import NodePool, propose
from bot.engine.plan import BLOCKED, build_plan
from bot.model import PendingPod, Resources
from tests.unit.helpers import GI, container, node, pct, spec
from tests.unit.test_select import make_policy, mem_app, snap

POOL = NodePool(name="w", selector={"pool": "w"}, file="terraform.tfvars", variable="worker_count", min=1, max=5)


def w(name):
    return node(name, 8000, 10 * GI, labels={"pool": "w"})


def run(workloads, nodes, pool=POOL, pending=(), **kw):
    s = snap(workloads, nodes)
    if pending:
        from dataclasses import replace
        s = replace(s, pending_pods=tuple(pending))
    policy = make_policy(budget=80)
    plan = build_plan(s, policy)
    return plan, propose(s, plan, pool, policy.budgets, current_count=len(nodes), **kw)


def test_a_cluster_that_fits_gets_no_proposal():
    # w1: 3Gi, w2: 3Gi; nothing blocked or pending; removing one leaves 6Gi of a 8Gi budget = 75% of budget:
    # not under 75% → no scale-down either (hysteresis).
    plan, p = run([mem_app("a", 3, 3, "w1"), mem_app("b", 3, 3, "w2")], [w("w1"), w("w2")])
    assert not p.changed and p.trigger == "fits"


def test_blocked_upsize_that_one_more_node_solves():
    # w1: big 3Gi → wants 7Gi, x 2Gi: 9Gi > 8Gi, blocked (no downsizes anywhere).
    # w2: y 6Gi → 2Gi of room. Re-placing big at 7Gi: w1 would be 2 + 7 = 9 > 8, w2 6 + 7 > 8 → a new node (8Gi budget) takes it.
    plan, p = run([mem_app("big", 3, 7, "w1"), mem_app("x", 2, 2, "w1"), mem_app("y", 6, 6, "w2")], [w("w1"), w("w2")])
    assert [d.key for d in plan.by_status(BLOCKED)] == ["default/big/app"]
    assert (p.current, p.proposed) == (2, 3)
    assert [(pl.pod, pl.node) for pl in p.placements] == [("default/big-0", "w-new-1")]
    new = [n for n in p.nodes if n.new]
    assert len(new) == 1 and new[0].used == (100, 7 * GI)  # 100m CPU request of the container, 7Gi memory


def test_pending_burst_needs_two_nodes_but_max_caps_at_one():
    # Three pending 5Gi pods. w1 (x 2Gi) has 6Gi of room: one fits. w2 (y 6Gi) has 2Gi: none.
    # Each new node (8Gi) holds one 5Gi pod (2 × 5 = 10 > 8) → needs +2 = 4 nodes; max 3 allows +1.
    pending = [PendingPod("batch", f"job-{i}", Resources(100, 5 * GI)) for i in range(3)]
    workloads = [mem_app("x", 2, 2, "w1"), mem_app("y", 6, 6, "w2")]
    _, uncapped = run(workloads, [w("w1"), w("w2")], pending=pending)
    assert uncapped.proposed == 4
    capped_pool = NodePool(**{**POOL.__dict__, "max": 3})
    _, capped = run(workloads, [w("w1"), w("w2")], pool=capped_pool, pending=pending)
    assert capped.proposed == 3
    assert any("capped at the pool's max of 3: needs 4 nodes" in r for r in capped.reasons)


def test_safe_scale_down_by_one():
    # Three nodes with 1Gi each. The least loaded (tie → w1) goes; its pod fits on w2.
    # Remaining pool: 3Gi of a 16Gi budget = 19% < 75%; peaks 3Gi of 20Gi allocatable = 15% < 75%.
    plan, p = run([mem_app("a", 1, 1, "w1"), mem_app("b", 1, 1, "w2"), mem_app("c", 1, 1, "w3")], [w("w1"), w("w2"), w("w3")])
    assert (p.current, p.proposed, p.removed_node) == (3, 2, "w1")
    assert [(pl.pod, pl.node) for pl in p.placements] == [("default/a-0", "w2")]


def test_low_average_cpu_is_not_enough_to_remove_a_node():
    # Seed 001's rule: average CPU under 30% → scale down. Here CPU use is 5% of allocatable
    # (100m used of 8000m on each node; computed independently below), so that rule would remove a node.
    # But each node holds a 5Gi pod: on one node 5 + 5 = 10Gi > 8Gi budget. No proposal.
    workloads = [mem_app("a", 5, 5, "w1"), mem_app("b", 5, 5, "w2")]
    nodes = [w("w1"), w("w2")]
    avg_cpu = sum(c.usage.cpu.p95 * 1000 if c.usage.cpu else 100 for wl in workloads for c in wl.containers) / sum(n.allocatable.cpu for n in nodes)
    assert avg_cpu < 0.30  # the seed would scale down
    _, p = run(workloads, nodes)
    assert not p.changed


def test_min_is_respected():
    pool = NodePool(**{**POOL.__dict__, "min": 3})
    _, p = run([mem_app("a", 1, 1, "w1"), mem_app("b", 1, 1, "w2"), mem_app("c", 1, 1, "w3")], [w("w1"), w("w2"), w("w3")], pool=pool)
    assert not p.changed


def test_max_already_reached():
    pool = NodePool(**{**POOL.__dict__, "max": 2})
    _, p = run([mem_app("big", 3, 7, "w1"), mem_app("x", 2, 2, "w1"), mem_app("y", 6, 6, "w2")], [w("w1"), w("w2")], pool=pool)
    assert not p.changed and "max of 2" in p.held_back


def test_cooldown_holds_a_wanted_change():
    pool = NodePool(**{**POOL.__dict__, "cooldown_seconds": 7 * 86400})
    workloads = [mem_app("big", 3, 7, "w1"), mem_app("x", 2, 2, "w1"), mem_app("y", 6, 6, "w2")]
    _, held = run(workloads, [w("w1"), w("w2")], pool=pool, seconds_since_last_change=2 * 86400)
    assert not held.changed and "wanted 3 nodes" in held.held_back and "cooldown" in held.held_back
    _, free = run(workloads, [w("w1"), w("w2")], pool=pool, seconds_since_last_change=8 * 86400)
    assert free.proposed == 3


def test_pods_pinned_elsewhere_are_not_counted():
    # big is pinned to a node label the pool's nodes lack: a new pool node cannot help it.
    pinned = mem_app("big", 3, 7, "w1")
    from dataclasses import replace
    pinned = replace(pinned, node_selector={"gpu": "yes"})
    _, p = run([pinned, mem_app("x", 2, 2, "w1"), mem_app("y", 6, 6, "w2")], [w("w1"), w("w2")])
    assert not p.changed


def test_new_nodes_carry_the_pools_daemonset_overhead():
    # A 512Mi DaemonSet on both nodes; the new node starts at 512Mi used, so a 7.75Gi pod (> 8Gi − 0.5Gi) cannot
    # fit on one new node... it needs the whole budget: 7.5Gi fits exactly.
    from tests.unit.helpers import workload
    ds = workload("agent", [container(resources=spec(10, 512 * 2**20), memory=pct(512 * 2**20))], nodes=("w1", "w2"), kind="DaemonSet")
    _, p = run([ds, mem_app("big", 3, 7.5, "w1"), mem_app("x", 2, 2, "w1"), mem_app("y", 6, 6, "w2")], [w("w1"), w("w2")])
    new = [n for n in p.nodes if n.new]
    assert p.proposed == 3 and new[0].used[1] == 8 * GI  # 0.5Gi DaemonSet + 7.5Gi pod = the 8Gi budget exactly
