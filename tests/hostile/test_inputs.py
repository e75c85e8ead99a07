"""Messy policies and snapshots: exit 2 with one line naming file, line and field, nothing
written, no traceback, and never a hang (each reproducer from issue 17 is one case here)."""

from __future__ import annotations

import json
import os

import pytest

from .conftest import snapshot, workload

POLICY = ".github/rightsizer.yaml"

# An alias bomb of 9 levels: 9**9 ≈ 387 million strings once expanded, from ~400 bytes.
BOMB = "".join(
    f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    for prev, name in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize("text,where,message", [
    ("version: 1\ndefaults:\n  cpu:\n    margin: .nan\n", f"{POLICY}:4: defaults.cpu.margin:", "not a finite number"),
    # .nan passed every minimum/maximum, and silently removed the step cap
    ("version: 1\ndefaults:\n  cpu:\n    maxIncreasePercent: .nan\n", f"{POLICY}:4: defaults.cpu.maxIncreasePercent:", "not a finite number"),
    ("version: 1\ndefaults:\n  memory:\n    margin: .inf\n", f"{POLICY}:4: defaults.memory.margin:", "not a finite number"),
    ("version: 1\ndefaults:\n  memory:\n    margin: -.inf\n", f"{POLICY}:4: defaults.memory.margin:", "not a finite number"),
    ("version: 1\nselection:\n  maxChanges: 1.0e+309\n", f"{POLICY}:3: selection.maxChanges:", "not a finite number"),
    ("version: 1\ndefaults:\n  cpu:\n    max: 1e400\n", f"{POLICY}:4: defaults.cpu.max:", "not a finite number"),  # YAML reads it as inf
    ("version: 1\ndefaults:\n  cpu:\n    max: '1e400'\n", f"{POLICY}:4: defaults.cpu.max:", "out of range"),
    ("version: 1\ndefaults:\n  memory:\n    max: 99999999999999Ei\n", f"{POLICY}:4: defaults.memory.max:", "out of range"),
    ("version: 1\ndefaults:\n  cpu:\n    round:\n      step: 16Mi\n", f"{POLICY}:5: defaults.cpu.round.step:", "not a CPU quantity"),
    ("version: 1\ndefaults:\n  memory:\n    round:\n      step: 500m\n", f"{POLICY}:5: defaults.memory.round.step:", "not a memory quantity"),
    ("version: 1\ndefaults:\n  cpu:\n    round:\n      step: -5m\n", f"{POLICY}:5: defaults.cpu.round.step:", "is negative"),
    ("version: 1\nwindow: 0s\n", f"{POLICY}:2: window:", "must be longer than zero"),
    ("version: 1\nwindow: 999999999999d\n", f"{POLICY}:2: window:", "longer than ten years"),
    ("version: 1\ndefaults:\n  coverage:\n    required: 99999y\n", f"{POLICY}:4: defaults.coverage.required:", "longer than ten years"),
    # min in one layer above max in another: only visible after layering
    ("version: 1\ndefaults:\n  cpu:\n    min: 500m\nnamespaces:\n  media:\n    cpu:\n      max: 200m\n",
     f"{POLICY}:8: namespaces.media.cpu.max:", "after layering, cpu min 500m is above max 200m"),
    ("version: 1\ndefaults:\n  memory:\n    max: 1Gi\nworkloads:\n  - match: {namespace: media}\n    policy:\n      memory: {min: 2Gi}\n",
     f"{POLICY}:8: workloads[0].policy.memory.min:", "after layering, memory min 2Gi is above max 1Gi"),
    ("version: 1\nmode: pr\nmode: off\n", f"{POLICY}:3:", "duplicate key"),
])
def test_bad_policy_values_are_one_line_exit_2_nothing_written(world, text, where, message):
    world.policy(text)
    before = world.digest()
    r = world.plan()
    assert r.code == 2, r.err
    assert r.err.startswith(f"rightsizer: error: {where}") and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert world.digest() == before


def test_alias_bomb_policy_is_refused_in_seconds(world):
    world.policy("version: 1\nx-bomb:\n" + "".join("  " + line + "\n" for line in ("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]", *BOMB.splitlines())))
    r = world.plan(timeout=60)
    assert r.code == 2 and "expands to more than" in r.err and POLICY in r.err, r.err
    assert r.seconds < 20


def test_recursive_alias_is_refused(world):
    world.policy("version: 1\nexcludeContainers: &a [*a]\n")
    r = world.plan()
    # ruamel gives the alias as the not-yet-finished sequence, or refuses it: either way, exit 2
    assert r.code == 2, r.err


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_text("version: 1\n" + "#" * (50 * 1024 * 1024) + "\n"), "over the limit"),
    (lambda p: p.write_text("version: 1\nexcludeContainers:\n" + "".join(f"- c{i}\n" for i in range(200_000))), "over the limit"),
    (lambda p: p.write_text("version: 1\nexcludeContainers: [" + ",".join("a" * 200_000) + "]\n"), "over the limit"),
    # under the size limit, but 100k flow items would keep the parser busy for ~10 s
    (lambda p: p.write_text("version: 1\nexcludeContainers: [" + ",".join("a" * 100_000) + "]\n"), "at most 60000 are parsed"),
    (lambda p: p.write_text("version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n"), "nested too deeply"),
])
def test_oversized_policies_are_refused_quickly_naming_the_file(world, make, message):
    make(world.repo / ".github" / "rightsizer.yaml" if (world.repo / ".github").mkdir() is None else None)
    r = world.plan(timeout=60)
    assert r.code == 2 and r.err.startswith(f"rightsizer: error: {POLICY}") and message in r.err, r.err
    assert r.seconds < 20


@pytest.mark.parametrize("kind", ["fifo", "dangling", "directory", "dev-zero"])
def test_a_default_policy_path_that_is_not_a_file_is_an_error_not_the_defaults(world, kind):
    path = world.repo / POLICY
    path.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling":
        path.symlink_to(world.root / "nowhere.yaml")
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    before = world.digest()
    r = world.plan(timeout=30)
    assert r.code == 2 and "policy path refused" in r.err and POLICY in r.err, r.err
    assert world.digest() == before


def test_fifo_given_as_policy_does_not_block(world):
    fifo = world.root / "policy.yaml"
    os.mkfifo(fifo)
    r = world.plan("--policy", str(fifo), timeout=30)
    assert r.code == 2 and "not a regular file" in r.err, r.err


# --- snapshots ---------------------------------------------------------------------------

def _usage_p95(value) -> dict:
    data = snapshot()
    data["workloads"][0]["containers"][0]["usage"]["cpu"]["p95"] = value
    return data


@pytest.mark.parametrize("text,message", [
    (json.dumps(_usage_p95(0.1)).replace('"p95": 0.1', '"p95": NaN', 1), "nan is not a finite number"),
    (json.dumps(_usage_p95(0.1)).replace('"p95": 0.1', '"p95": Infinity', 1), "inf is not a finite number"),
    (json.dumps(_usage_p95(0.1)).replace('"p95": 0.1', '"p95": 1e309', 1), "inf is not a finite number"),
    (json.dumps(_usage_p95(0.1)).replace('"p95": 0.1', '"p95": -Infinity', 1), "-inf is not a finite number"),
])
def test_non_finite_snapshot_numbers_name_the_field(world, text, message):
    snap = world.write_snapshot(text, "bad.json")
    before = world.digest()
    r = world.plan(snap=snap)
    assert r.code == 2 and message in r.err and "workloads[0].containers[0].usage.cpu.p95" in r.err, r.err
    assert world.digest() == before


def _with(path, value):
    data = snapshot()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize("data,message", [
    (_with(["workloads", 0, "containers", 0, "requests", "cpu"], "1e400"), "out of range"),
    (_with(["workloads", 0, "containers", 0, "requests", "memory"], "9" * 40 + "Ei"), "out of range"),
    (_with(["workloads", 0, "containers", 0, "requests", "cpu"], -0.6), "is negative"),
    (_with(["nodes", 0, "allocatable", "cpu"], -600), "is negative"),
    # Finite but beyond any node: overflowed to infinity in the engine (found by the fuzz suite).
    (_with(["workloads", 1, "containers", 0, "usage", "cpu", "p95"], 1e308),
     "workloads[1].containers[0].usage.cpu.p95: 1e+308 cores is out of range (at most 1e+06)"),
    (_with(["workloads", 0, "containers", 0, "usage", "memory", "max"], 2.0**61),
     "workloads[0].containers[0].usage.memory.max: 2.305843009213694e+18 bytes is out of range"),
    (_with(["window"], "0s"), "must be longer than zero"),
    (_with(["window"], "100000000d"), "longer than ten years"),
    (_with(["collectedAt"], "2026-13-45T99:00:00Z"), "is not a 'date-time'"),
    (_with(["nodes"], [{"name": f"n{i}", "allocatable": {"cpu": "1", "memory": "1Gi"}} for i in range(5001)]), "at most 5000 are read"),
])
def test_bad_snapshot_values_exit_2(world, data, message):
    snap = world.write_snapshot(data, "bad.json")
    before = world.digest()
    r = world.plan(snap=snap)
    assert r.code == 2 and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert world.digest() == before


def test_alias_bomb_snapshot_is_refused_in_seconds(world):
    snap = world.write_snapshot("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + BOMB, "bomb.yaml")
    r = world.plan(snap=snap, timeout=60)
    assert r.code == 2 and "expands to more than" in r.err and "bomb.yaml" in r.err, r.err
    assert r.seconds < 20


def test_special_snapshot_files_are_refused(world):
    fifo = world.root / "snap-fifo.json"
    os.mkfifo(fifo)
    zero = world.root / "zero.json"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        r = world.plan(snap=path, timeout=30)
        assert r.code == 2 and "not a regular file" in r.err, r.err


def test_zero_nodes_and_pods_on_unknown_nodes_are_said_out_loud(world):
    r = world.plan(snap=world.write_snapshot(snapshot(nodes=[]), "no-nodes.json"))
    assert r.code == 0 and "the snapshot lists no nodes, so node fit was not checked" in r.err, r.err
    stray = snapshot(workloads=[workload("radarr"), workload("sonarr", node="ghost")])
    r = world.plan(snap=world.write_snapshot(stray, "stray.json"))
    assert r.code == 0 and "1 pod(s) run on nodes the snapshot does not list (media/sonarr-0 on ghost)" in r.err, r.err


def test_5000_pending_pods_and_200k_pods_finish_in_bounded_time(world):
    pending = snapshot(pendingPods=[{"namespace": "x", "name": f"p{i}", "requests": {"cpu": "100m", "memory": "100Mi"}}
                                    for i in range(5000)])
    r = world.plan(snap=world.write_snapshot(pending, "pending.json"), timeout=120)
    assert r.code == 0, r.err
    assert r.seconds < 60
    many = snapshot()
    many["workloads"][0]["pods"] = [{"name": f"p{i}", "node": "n1"} for i in range(200_000)]
    r = world.plan(snap=world.write_snapshot(many, "pods.json"), timeout=120)
    assert r.code == 2 and "at most 150000 are read" in r.err, r.err
    assert r.seconds < 60


@pytest.mark.parametrize("path,name", [
    (["workloads", 0, "containers", 0, "name"], "app<img src=x onerror=alert(1)>"),
    (["workloads", 0, "containers", 0, "name"], "app`<b>x</b>`"),  # would close a Markdown code span
    (["workloads", 0, "namespace"], "media|x"),  # would split a Markdown table row
    (["workloads", 0, "pods", 0, "node"], "n1\n<script>"),
    (["nodes", 0, "name"], "n1 <!--"),
])
def test_names_that_kubernetes_forbids_are_refused_before_any_text_is_rendered(world, path, name):
    """Names reach Markdown tables, code spans and <summary> HTML in PR bodies and the dashboard.
    The API server allows only letters, digits, '-', '.' (and ':' in some names), so a name with
    anything else comes from a forged or broken snapshot: refused, nothing written."""
    out = world.root / "out"
    data = snapshot()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = name
    snap = world.write_snapshot(data, "html.json")
    before = world.digest()
    r = world.plan("--out", str(out), snap=snap)
    where = ".".join(str(k) for k in path).replace(".0", "[0]")
    assert r.code == 2 and f"html.json:1: {where}: {name!r} is not a Kubernetes name" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert world.digest() == before and not out.exists()


def test_summary_html_escapes_names():
    """The <summary> line is raw HTML: even a name that got past the snapshot is escaped there."""
    from bot.engine.plan import SELECTED, Decision
    from bot.engine.recommend import recommend
    from bot.policy import load_preset
    from bot.report.markdown import rationale
    from tests.unit.helpers import GI, container, pct, spec, workload

    policy = load_preset("resource-advisor")
    app = container("app<img src=x>", resources=spec(1000, 2 * GI), cpu=pct(0.1), memory=pct(500_000_000))
    w = workload("radarr", [app], ns="media")
    d = Decision(w, app.name, False, SELECTED, "", policy, recommend(app, policy, 14 * 86400))
    line = rationale(d)[0]
    assert line.startswith("<details><summary><code>media/radarr/app&lt;img src=x&gt;</code>"), line
