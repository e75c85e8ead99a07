"""The command line, run as a user would (a subprocess): outputs, exit codes, and nothing written on bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo"


def rightsizer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=cwd)


def test_plan_without_repo_writes_report_and_pr_text(tmp_path):
    out = tmp_path / "out"
    r = rightsizer("plan", "--snapshot", str(DEMO / "snapshot.yaml"), "--policy", str(DEMO / "policy.yaml"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    statuses = {d["ref"]: d["status"] for d in report["decisions"]}
    assert statuses["backup/restic-backup/restic"] == "report-only"  # a CronJob
    assert statuses["default/paperless/app"] == "skipped"  # 3 days of data, policy needs 7
    assert report["counts"]["selected"] == 8  # the demo policy's cap
    body = (out / "pr.md").read_text()
    assert "### Node fit" in body and "#### Requests per node, before and after" in body
    assert "media/qbittorrent" in r.stdout


def test_bad_policy_exits_2_names_the_line_and_writes_nothing(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nselection:\n  maxChanges: lots\n")
    out = tmp_path / "out"
    r = rightsizer("plan", "--snapshot", str(DEMO / "snapshot.yaml"), "--policy", str(policy), "--out", str(out), "--github-annotations")
    assert r.returncode == 2
    assert f"{policy}:3: selection.maxChanges: 'lots' is not of type 'integer'" in r.stderr
    assert "Traceback" not in r.stderr
    assert f"::error file={policy},line=3,title=rightsizer::selection.maxChanges" in r.stdout
    assert not out.exists()


def test_bad_snapshot_exits_2(tmp_path):
    snap = tmp_path / "s.json"
    snap.write_text('{"version": 1, "collectedAt": "2026-11-22T00:00:00Z", "window": "14d", "nodes": [], "workloads": [{"kind": "Deployment"}]}')
    r = rightsizer("plan", "--snapshot", str(snap))
    assert r.returncode == 2 and "workloads[0]" in r.stderr and "Traceback" not in r.stderr


def test_missing_snapshot_file_exits_2(tmp_path):
    r = rightsizer("plan", "--snapshot", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_write_needs_a_repo():
    r = rightsizer("plan", "--snapshot", str(DEMO / "snapshot.yaml"), "--write")
    assert r.returncode == 2 and "--write needs --repo" in r.stderr


def test_version_and_module_entry_point():
    r = rightsizer("--version")
    assert r.returncode == 0 and r.stdout.startswith("rightsizer ")


def _one_error_line(r):
    """Bad input: exit 2 and exactly one line on stderr, no traceback, nothing on stdout."""
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["plan", "--max-changes", "-1"], "argument --max-changes: '-1' is negative"),
        (["run", "--max-changes=-3"], "argument --max-changes: '-3' is negative"),
        (["plan", "--max-changes", "2.5"], "argument --max-changes: '2.5' is not a whole number"),
        (["snapshot", "--out", "x", "--collection-budget", "0"], "argument --collection-budget: '0' must be more than 0"),
        (["plan", "--collection-budget", "-5"], "argument --collection-budget: '-5' must be more than 0"),
        (["run", "--collection-budget", "nan"], "argument --collection-budget: 'nan' is not a finite number"),
        (["event", "--api-write-pause", "-1"], "argument --api-write-pause: '-1' is negative"),
        (["run", "--api-write-pause", "inf"], "argument --api-write-pause: 'inf' is not a finite number"),
    ],
)
def test_numeric_flags_refuse_bad_numbers(tmp_path, argv, expected):
    out = tmp_path / "out"
    r = rightsizer(*argv, "--snapshot" if argv[0] != "snapshot" else "--namespaces", str(DEMO / "snapshot.yaml"), cwd=tmp_path)
    line = _one_error_line(r)
    assert line.startswith(f"rightsizer {argv[0]}: error: {expected}"), line
    assert list(tmp_path.iterdir()) == [] and not out.exists()


def test_max_changes_zero_is_allowed(tmp_path):
    r = rightsizer("plan", "--snapshot", str(DEMO / "snapshot.yaml"), "--policy", str(DEMO / "policy.yaml"),
                   "--max-changes", "0", "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["counts"]["selected"] == 0


@pytest.mark.parametrize("command, flag, value", [
    ("plan", "--window", "7d"), ("plan", "--resolution", "1m"), ("plan", "--cluster-label", "cluster=home"),
    ("plan", "--collection-budget", "60"), ("run", "--window", "7d"), ("event", "--window", "7d"),
])
def test_measurement_flags_with_a_snapshot_are_refused(tmp_path, command, flag, value):
    # They shape what is measured; with --snapshot nothing is, so they would be ignored without a word.
    env_args = ["--dry-run", "--repo", str(tmp_path)] if command != "plan" else ["--out", str(tmp_path / "out")]
    r = rightsizer(command, "--snapshot", str(DEMO / "snapshot.yaml"), flag, value, *env_args, cwd=tmp_path)
    line = _one_error_line(r)
    assert line == (f"rightsizer: error: <command line>: {flag}: only applies to live collection, and --snapshot reads "
                    "a file measured already (its window is its own): give one or the other")
    assert list(tmp_path.iterdir()) == []


def _demo_snapshot_data():
    # The demo snapshot is JSON under one comment line.
    return json.loads((DEMO / "snapshot.yaml").read_text().split("\n", 1)[1])


def test_duplicate_workload_exits_2_naming_both_entries_and_lines(tmp_path):
    from tests.unit.test_snapshot import GOOD

    block = GOOD[GOOD.index("  - kind: Deployment"):]
    snap = tmp_path / "snap.yaml"
    text = GOOD + block  # the same Deployment media/sonarr twice
    snap.write_text(text)
    # Lines found by plain text search, independently of the YAML parser.
    first, second = [i for i, t in enumerate(text.splitlines(), 1) if t == "  - kind: Deployment"]
    out = tmp_path / "out"
    r = rightsizer("plan", "--snapshot", str(snap), "--out", str(out))
    assert _one_error_line(r) == (
        f"rightsizer: error: {snap}:{second}: workloads[1]: Deployment media/sonarr is listed twice, "
        f"at workloads[0] (line {first}) and at workloads[1] (line {second}): keep one")
    assert not out.exists()


def test_duplicate_container_in_a_json_snapshot_exits_2(tmp_path):
    data = _demo_snapshot_data()
    w = data["workloads"][2]
    containers = w.pop("containers")
    containers.append(dict(containers[0]))
    # Laid out by hand so the lines are known: line 1 the header, lines 2-3 workloads[0] and [1],
    # line 4 workloads[2] up to its containers, then one container per line: containers[0] on 5, [1] on 6.
    header = json.dumps({k: v for k, v in data.items() if k != "workloads"})[:-1] + ', "workloads": [\n'
    text = (header + json.dumps(data["workloads"][0]) + ",\n" + json.dumps(data["workloads"][1]) + ",\n"
            + json.dumps(w)[:-1] + ', "containers": [\n' + ",\n".join(json.dumps(c) for c in containers) + "]},\n"
            + ",\n".join(json.dumps(x) for x in data["workloads"][3:]) + "]}\n")
    snap = tmp_path / "snap.json"
    snap.write_text(text)
    r = rightsizer("plan", "--snapshot", str(snap), "--policy", str(DEMO / "policy.yaml"), "--out", str(tmp_path / "out"))
    assert _one_error_line(r) == (
        f"rightsizer: error: {snap}:6: workloads[2].containers[1]: container {containers[0]['name']!r} of Deployment "
        f"{w['namespace']}/{w['name']} is listed twice, at workloads[2].containers[0] (line 5) and at "
        f"workloads[2].containers[1] (line 6): keep one")
    assert not (tmp_path / "out").exists()


def test_same_name_with_another_kind_is_not_a_duplicate(tmp_path):
    # A Deployment and a StatefulSet may share namespace and name: both are planned.
    data = _demo_snapshot_data()
    twin = json.loads(json.dumps(data["workloads"][1]))
    twin["kind"] = "StatefulSet"
    data["workloads"].append(twin)
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(data))
    r = rightsizer("plan", "--snapshot", str(snap), "--policy", str(DEMO / "policy.yaml"), "--out", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    kinds = [d["kind"] for d in json.loads((tmp_path / "out" / "report.json").read_text())["decisions"]
             if d["ref"] == f"{twin['namespace']}/{twin['name']}/{twin['containers'][0]['name']}"]
    assert sorted(kinds) == ["Deployment", "StatefulSet"]


@pytest.mark.parametrize(
    "cut, line, column, message",
    [
        # The demo snapshot's JSON body (without its comment line) opens with "{" on line 1, then version,
        # collectedAt, window on line 4 and cluster on line 5, each indented by one space.
        # Cut inside a string: ` "cluster": "ho` — the string opens at column 1 + len('"cluster": ') + 1 = 13.
        ('"cluster": "ho', 5, 13, "Unterminated string starting at"),
        # Cut after a comma: the parser wants the next name at the very end, column len(' "window": "14d",') + 1 = 18.
        ('"window": "14d",', 4, 18, "Expecting property name enclosed in double quotes"),
    ],
)
def test_truncated_json_snapshot_is_a_json_error(tmp_path, cut, line, column, message):
    body = (DEMO / "snapshot.yaml").read_text().split("\n", 1)[1]
    text = body[: body.index(cut) + len(cut)]
    assert text.splitlines()[line - 1].strip().startswith(cut[:9])  # the cut is on the line we expect
    snap = tmp_path / "snap.json"
    snap.write_text(text)
    out = tmp_path / "out"
    r = rightsizer("plan", "--snapshot", str(snap), "--out", str(out))
    assert _one_error_line(r) == (f"rightsizer: error: {snap}:{line}: is not valid JSON: {message} at column {column}; "
                                  "the file ends before the JSON does (truncated?)")
    assert not out.exists()


def test_json_with_a_mistake_mid_file_is_not_called_truncated(tmp_path):
    snap = tmp_path / "snap.json"
    snap.write_text('{\n "version": 1,\n "window": "14d"\n "nodes": []\n}\n')  # missing comma after line 3
    line = _one_error_line(rightsizer("plan", "--snapshot", str(snap)))
    # Python's json reports the position of the token it could not take: line 4, column 2 (`"nodes"`).
    assert line == f"rightsizer: error: {snap}:4: is not valid JSON: Expecting ',' delimiter at column 2"


def test_truncated_yaml_snapshot_keeps_a_yaml_error(tmp_path):
    # The same cut JSON text, in a file named .yaml: read as YAML, reported as YAML.
    body = (DEMO / "snapshot.yaml").read_text().split("\n", 1)[1]
    snap = tmp_path / "snap.yaml"
    snap.write_text(body[: body.index('"cluster": "ho') + 14])
    line = _one_error_line(rightsizer("plan", "--snapshot", str(snap)))
    assert line.startswith(f"rightsizer: error: {snap}:") and "is not valid YAML" in line and "JSON" not in line


def test_a_policy_quantity_with_a_b_gets_the_likely_fix(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ndefaults:\n  memory:\n    max: 7GB\n")
    out = tmp_path / "out"
    r = rightsizer("plan", "--snapshot", str(DEMO / "snapshot.yaml"), "--policy", str(policy), "--out", str(out))
    assert _one_error_line(r) == f"rightsizer: error: {policy}:4: defaults.memory.max: '7GB' is not a memory quantity: did you mean 7G or 7Gi?"
    assert not out.exists()


def test_a_snapshot_quantity_in_words_gets_the_likely_fix(tmp_path):
    from tests.unit.test_snapshot import GOOD

    text = GOOD.replace("requests: {cpu: 100m, memory: 512Mi}", "requests: {cpu: 1.5 cores, memory: 512Mi}")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "1.5 cores" in t)  # by text search
    snap = tmp_path / "snap.yaml"
    snap.write_text(text)
    r = rightsizer("plan", "--snapshot", str(snap), "--out", str(tmp_path / "out"))
    assert _one_error_line(r) == (f"rightsizer: error: {snap}:{line}: workloads[0].containers[0].requests.cpu: "
                                  "'1.5 cores' is not a CPU quantity: did you mean 1.5?")


@pytest.mark.parametrize("flag, value", [("--window", "0d"), ("--resolution", "500ms")])
def test_durations_under_a_second_are_refused_before_connecting(tmp_path, flag, value):
    # Port 9 (discard) on localhost: were anything sent, the error would be a connection failure (exit 1), not this.
    out = tmp_path / "snap.json"
    r = rightsizer("snapshot", "--out", str(out), "--prometheus-url", "http://127.0.0.1:9", flag, value)
    assert _one_error_line(r) == (f"rightsizer: error: <command line>: {flag}: {value!r} is shorter than a second; "
                                  "give a duration like 14d or 5m")
    assert not out.exists()


def test_yaml_in_a_file_named_json_still_loads(tmp_path):
    from tests.unit.test_snapshot import GOOD

    snap = tmp_path / "snap.json"
    snap.write_text(GOOD)
    r = rightsizer("plan", "--snapshot", str(snap), "--quiet")
    assert r.returncode == 0, r.stderr


def test_an_empty_json_snapshot_says_so(tmp_path):
    snap = tmp_path / "snap.json"
    snap.write_text("\n")
    assert _one_error_line(rightsizer("plan", "--snapshot", str(snap))) == f"rightsizer: error: {snap}: is empty, not JSON"


def test_a_bad_flag_is_also_an_actions_annotation(tmp_path):
    # action.yml always passes --github-annotations: the mistake must show on the run page, not only in the log.
    r = rightsizer("event", "--github-annotations", "--max-changes", "-2", cwd=tmp_path)
    assert _one_error_line(r) == "rightsizer event: error: argument --max-changes: '-2' is negative; give 0 or more (see `rightsizer event --help`)"
    assert r.stdout == "::error title=rightsizer::argument --max-changes: '-2' is negative; give 0 or more (see `rightsizer event --help`)\n"


def _without_cpu_p95(tmp_path) -> Path:
    """The demo snapshot with media/jellyfin's CPU p95 left out, as a snapshot measured for another policy has it."""
    doc = json.loads("".join(l for l in (DEMO / "snapshot.yaml").read_text().splitlines(True) if not l.startswith("#")))
    jellyfin = next(w for w in doc["workloads"] if w["name"] == "jellyfin")
    del jellyfin["containers"][0]["usage"]["cpu"]["p95"]
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_snapshot_without_a_percentile_the_policy_reads_exits_2_and_writes_nothing(tmp_path):
    snap = _without_cpu_p95(tmp_path)
    out = tmp_path / "out"
    r = rightsizer("plan", "--snapshot", str(snap), "--policy", str(DEMO / "policy.yaml"), "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{snap}: cpu p95: no cpu p95 usage for media/jellyfin container app, and the policy reads it" in r.stderr
    assert not out.exists()
    # A policy that reads the p90 instead accepts the same snapshot.
    policy = tmp_path / "p90.yaml"
    policy.write_text("defaults:\n  cpu: {percentile: p90, limit: {mode: none}}\n")
    assert rightsizer("plan", "--snapshot", str(snap), "--policy", str(policy), "--out", str(out)).returncode == 0


def test_the_engine_leaves_a_resource_whose_percentile_was_not_measured(tmp_path):
    from bot.engine.plan import build_plan
    from bot.policy import load_policy
    from bot.snapshot import load_snapshot

    plan = build_plan(load_snapshot(_without_cpu_p95(tmp_path)), load_policy(None, str(DEMO / "policy.yaml")))
    d = next(d for d in plan.decisions if d.key == "media/jellyfin/app")
    assert d.recommendation.proposed.requests.cpu == d.recommendation.current.requests.cpu
    assert d.recommendation.proposed.limits.cpu == d.recommendation.current.limits.cpu
    assert any("the snapshot has no cpu p95 (not measured): cpu left as it is" in s.text for s in d.recommendation.steps)
    from bot.report.markdown import usage_text

    assert usage_text(d).startswith("p95 not measured / p95 ")  # the PR's usage column says so for CPU
