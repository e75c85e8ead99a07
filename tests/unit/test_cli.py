"""The command line, run as a user would (a subprocess): outputs, exit codes, and nothing written on bad input."""

import json
import subprocess
import sys
from pathlib import Path

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
