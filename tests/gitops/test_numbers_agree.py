"""Every number in the demo's PRs agrees with every other, recomputed from report.json alone.

The node table's before/after, each blocked change's shortfall and "would fit on", the held-back parts,
the changes table, the rationale's final values and the node-pool PR's reasons and placements are all
rebuilt here from the decisions in report.json (their pods, nodes and specs) with the scheduler's pod
arithmetic written out again, independently of bot.engine.
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from bot.pipeline import run_pipeline
from bot.quantity import in_unit
from bot.snapshot import load_snapshot
from tests.gitops.test_demo_repo import DEMO, git

RES = ("cpu", "memory")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("demo") / "repo"
    shutil.copytree(DEMO / "repo", repo)
    (repo / ".github").mkdir()
    shutil.copy(DEMO / "policy.yaml", repo / ".github" / "rightsizer.yaml")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "homelab")
    result = run_pipeline(repo, load_snapshot(DEMO / "snapshot.yaml"), None)
    bodies = {d.scope: d.body for d in result.drafts}
    return result.report, bodies["resources"], bodies.get("nodes", "")


def eff(spec: dict, r: str) -> int:
    req = spec["requests"][r]
    if req is not None:
        return req
    lim = spec["limits"][r]
    return lim if lim is not None else 0


def pod_request(containers: list[tuple[dict, bool, bool]], r: str) -> int:
    """(spec, init, sidecar) per container → what the scheduler reserves for one pod."""
    app = sum(eff(s, r) for s, init, side in containers if not init)
    side = sum(eff(s, r) for s, init, sidecar in containers if init and sidecar)
    init_max = max((eff(s, r) for s, init, sidecar in containers if init and not sidecar), default=0)
    return max(app + side, init_max + side)


def workloads(report: dict) -> dict[tuple, list[dict]]:
    out = defaultdict(list)
    for d in report["decisions"]:
        out[(d["namespace"], d["kind"], d["workload"])].append(d)
    return out


def spec_in(d: dict, which: str) -> dict:
    """A container's spec before the PR, as the PR writes it, or as it finally wants it."""
    if which == "before" or "proposed" not in d:
        return d["current"]
    if which == "after":
        return d["proposed"] if d["status"] == "selected" else d["current"]
    return d.get("wanted") or d["proposed"] if d["status"] in ("selected", "blocked") else d["current"]


def per_node(report: dict, which: str) -> dict[str, list[int]]:
    used = defaultdict(lambda: [0, 0])
    for decisions in workloads(report).values():
        containers = [(spec_in(d, which), d["init"], d.get("sidecar", False)) for d in decisions]
        req = [pod_request(containers, r) for r in RES]
        for pod in decisions[0]["pods"]:
            if pod["node"]:
                for i in (0, 1):
                    used[pod["node"]][i] += req[i]
    return used


def test_node_table_before_and_after_are_the_sum_of_the_pods(demo):
    report, body, _ = demo
    for which in ("before", "after"):
        used = per_node(report, which)
        for n in report["nodes"]:
            assert [n[which]["cpu"], n[which]["memory"]] == used[n["name"]], (which, n["name"])
        assert [report["cluster"][which][r] for r in RES] == [sum(u[i] for u in used.values()) for i in (0, 1)]
    for n in report["nodes"]:
        row = next(line for line in body.splitlines() if line.startswith(f"| `{n['name']}` |"))
        for r in RES:
            before, after = in_unit(r, n["before"][r])[:-len("m" if r == "cpu" else "Mi")], in_unit(r, n["after"][r])[:-len("m" if r == "cpu" else "Mi")]
            assert f"{before} (" in row and f"→ {after} (" in row, (row, r)


def test_every_shortfall_is_measured_on_the_after_projection(demo):
    report, body, _ = demo
    after = {n["name"]: n for n in report["nodes"]}
    blocks = [d for d in report["decisions"] if "block" in d]
    assert blocks, "the demo should show at least one blocked or held-back change"
    for d in blocks:
        siblings = workloads(report)[(d["namespace"], d["kind"], d["workload"])]
        written = [(spec_in(s, "after"), s["init"], s.get("sidecar", False)) for s in siblings]
        wanted = [((d.get("wanted") or d["proposed"]) if s is d else spec_in(s, "after"), s["init"], s.get("sidecar", False)) for s in siblings]
        for s in d["block"]["shortfalls"]:
            i = RES.index(s["resource"])
            delta = pod_request(wanted, s["resource"]) - pod_request(written, s["resource"])
            if s["node"] == "cluster":
                pods = [p for p in d["pods"] if p["node"]]
                assert s["used"] == report["cluster"]["after"][s["resource"]] + delta * len(pods)
                assert s["budget"] == report["cluster"]["budget"][s["resource"]]
            else:
                pods = [p for p in d["pods"] if p["node"] == s["node"]]
                assert s["used"] == after[s["node"]]["after"][s["resource"]] + delta * len(pods), (d["ref"], s)
                assert s["budget"] == after[s["node"]]["budget"][s["resource"]]
                r = s["resource"]
                text = (f"{s['node']} {r} would be {in_unit(r, s['used'])} against a budget of "
                        f"{in_unit(r, s['budget'])} ({in_unit(r, s['short'])} short")
                assert text in body, text
            assert s["short"] == s["used"] - s["budget"] > 0
            del i


def test_would_fit_on_has_the_room(demo):
    report, _, _ = demo
    after = {n["name"]: n for n in report["nodes"]}
    promised = defaultdict(lambda: [0, 0])
    for d in report["decisions"]:
        target = (d.get("block") or {}).get("fitsOn")
        if not target:
            continue
        siblings = workloads(report)[(d["namespace"], d["kind"], d["workload"])]
        wanted = [((d.get("wanted") or d["proposed"]) if s is d else spec_in(s, "after"), s["init"], s.get("sidecar", False)) for s in siblings]
        for i, r in enumerate(RES):
            promised[target][i] += pod_request(wanted, r)
            assert after[target]["after"][r] + promised[target][i] <= after[target]["budget"][r], (d["ref"], target)


def test_changes_table_and_rationale_show_the_values_written(demo):
    report, body, _ = demo
    for d in (d for d in report["decisions"] if d["status"] == "selected"):
        row = next(line for line in body.splitlines() if line.startswith(f"| `{d['namespace']}/{d['workload']}`") and f"| `{d['container']}` |" in line)
        for kind in ("requests", "limits"):
            for r in RES:
                old, new = d["current"][kind][r], d["proposed"][kind][r]
                if old != new:
                    assert f"**{in_unit(r, new)[:-len('m' if r == 'cpu' else 'Mi')]}**" in row, (d["ref"], kind, r, row)
                    # The rationale's last word on this field is the value written (or no step touched it after the target).
                    field = kind[:-1]
                    shaping = [s for s in d["steps"] if s["resource"] == r and s["field"] == field and s["step"] in ("rounding", "max step")]
                    if shaping and shaping[-1]["step"] == "rounding":
                        assert shaping[-1]["value"] == new, (d["ref"], kind, r, shaping[-1])


def test_node_pool_reasons_agree_with_its_placements(demo):
    report, body, nodes_body = demo
    (pool,) = [p for p in report["nodePools"] if p["proposed"] != p["current"]]
    new_nodes = {n["name"] for n in pool["nodes"] if n["new"]}
    on_new = sorted(p["pod"] for p in pool["placements"] if p["node"] in new_nodes)
    moved = sorted(p["pod"] for p in pool["placements"] if p["node"] not in new_nodes)
    reasons = " | ".join(pool["reasons"])
    assert f"{len(on_new)} pod(s) need a new node" in reasons
    for pod in on_new:
        assert pod in reasons and f"| `{pod}` | `{next(p['node'] for p in pool['placements'] if p['pod'] == pod)}` |" in nodes_body
    if moved:
        assert f"{len(moved)} pod(s) fit on existing nodes once rescheduled" in reasons
    # A blocked change the resources PR says fits on a node is placed on that very node here.
    for d in report["decisions"]:
        target = (d.get("block") or {}).get("fitsOn")
        for pod in d["pods"]:
            ref = f"{d['namespace']}/{pod['name']}"
            placed = next((p["node"] for p in pool["placements"] if p["pod"] == ref), None)
            if target and placed:
                assert placed == target, (ref, target, placed)
    # New nodes carry the same DaemonSet overhead: what they hold minus what was placed on them.
    by_name = {n["name"]: n for n in pool["nodes"]}
    demand = defaultdict(lambda: [0, 0])
    for d in report["decisions"]:
        for pod in d["pods"]:
            ref = f"{d['namespace']}/{pod['name']}"
            node = next((p["node"] for p in pool["placements"] if p["pod"] == ref), None)
            if node in new_nodes and d is workloads(report)[(d["namespace"], d["kind"], d["workload"])][0]:
                siblings = workloads(report)[(d["namespace"], d["kind"], d["workload"])]
                wanted = [(spec_in(s, "wanted"), s["init"], s.get("sidecar", False)) for s in siblings]
                for i, r in enumerate(RES):
                    demand[node][i] += pod_request(wanted, r)
    overheads = {tuple(by_name[n]["used"][r] - demand[n][i] for i, r in enumerate(RES)) for n in new_nodes if demand[n] != [0, 0]}
    assert len(overheads) <= 1
    assert re.search(rf"\*\*{pool['current']} → {pool['proposed']}\*\*", nodes_body)
    assert f"`{pool['pool']}` {pool['current']} → {pool['proposed']} nodes" in body  # the resources PR links to it


def test_no_demo_container_gains_a_limit_and_postgres_keeps_its_peak_covered(demo):
    report, _, _ = demo
    for d in report["decisions"]:
        if "proposed" not in d:
            continue
        for r in RES:
            if d["current"]["limits"][r] is None:
                assert d["proposed"]["limits"][r] is None, (d["ref"], r)
    pg = next(d for d in report["decisions"] if d["ref"] == "database/postgres/postgres")
    # Guaranteed: request = limit; the window's CPU peak is 260m (p95 200m × spike 1.3), and the balanced
    # CPU limit rule covers it with 20%: 312m → 320m in 10m steps.
    assert pg["proposed"]["requests"]["cpu"] == pg["proposed"]["limits"]["cpu"] == 320 >= 260 * 1.2
    assert not pg["warnings"]


def test_savings_agree_with_the_specs_and_the_pr_text(demo):
    """Each change's monthly cost in report.json and in the PR's "Estimated cost" table is the pod
    request difference it makes (the change alone, the other containers as they are), times its
    scheduled pods, times 730 h at report.json's prices; the PR total is the sum of the rows."""
    report, body, _ = demo
    s = report["savings"]
    p = s["prices"]
    per_core = p["cpuCoreHour"] + p["wattsPerCore"] * p["pricePerKWh"] / 1000
    per_gib = p["memoryGiBHour"] + p["wattsPerGiB"] * p["pricePerKWh"] / 1000
    costs = {c["ref"]: c["monthlyCostChange"] for c in s["changes"]}
    rows = [line for line in body.splitlines() if line.startswith("| `") and "/month |" in line]
    selected = [d for d in report["decisions"] if d["status"] == "selected"]
    assert len(rows) == len(selected) > 0
    total = 0.0
    for d in selected:
        siblings = workloads(report)[(d["namespace"], d["kind"], d["workload"])]
        pods = sum(1 for pod in d["pods"] if pod["node"]) or 1
        before = [(x["current"], x["init"], x.get("sidecar", False)) for x in siblings]
        after = [(d["proposed"] if x is d else x["current"], x["init"], x.get("sidecar", False)) for x in siblings]
        dm, db = (pods * (pod_request(after, r) - pod_request(before, r)) for r in RES)
        cost = s["hoursPerMonth"] * (dm / 1000 * per_core + db / 2**30 * per_gib)
        total += cost
        assert costs[d["ref"]] == pytest.approx(cost, abs=0.005), d["ref"]
        (row,) = [r for r in rows if r.startswith(f"| `{d['ref']}` |")]
        sign = "+" if cost > 0.004 else "−" if cost < -0.004 else "±"
        assert row.endswith(f"| {sign}{abs(cost):.2f} {s['currency']}/month |"), row
    assert s["prMonthlyCostChange"] == pytest.approx(total, abs=0.005)
    assert f"| **This PR** | | **{'−' if total < 0 else '+'}{abs(total):.2f} {s['currency']}/month** |" in body
