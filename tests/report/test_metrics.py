"""The exposition text: hand-checked values on a tiny cluster, promtool's linter on the demo's."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from bot.engine.plan import build_plan
from bot.report import metrics
from bot.report.metrics import RunInfo, escape
from bot.report.savings import Prices
from tests.report.demo_plan import demo_result
from tests.unit.helpers import GI, container, pct, spec, workload
from tests.unit.test_select import NODES, make_policy, snap


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")}


def test_small_cluster_hand_checked():
    # Two nodes of 10 cores / 10Gi, 80% budgets. One pod "a" on n1: 100m, 2Gi requested, 1.5Gi used
    # (neutral memory policy → 1.5Gi, selected). Coverage 30 days.
    #   n1 memory: 2Gi / 10Gi = 20% now → 1.5Gi / 10Gi = 15% after the PR (and after all pending).
    #   cluster memory: 2Gi / 20Gi = 10% → 7.5%.  CPU: 100m / 10 cores = 1% on n1, 0.5% cluster.
    #   savings at 0.01 per GiB-hour: 730 × 0.5 × 0.01 = 3.65 per month.
    w = workload("a", [container(resources=spec(100, 2 * GI), memory=pct(1.5 * GI))])
    plan = build_plan(snap([w], NODES), make_policy())
    text = metrics.render(plan, RunInfo(now=1_800_000_000.4, pull_requests={"resources": ("open", 7), "nodes": ("none", None)},
                                        prices=Prices(0.0, 0.01, currency="EUR")))
    s = samples(text)
    assert s['rightsizer_node_requests_percent{node="n1",resource="memory",state="current"}'] == 20
    assert s['rightsizer_node_requests_percent{node="n1",resource="memory",state="recommended"}'] == 15
    assert s['rightsizer_node_requests_percent{node="n1",resource="memory",state="pending"}'] == 15
    assert s['rightsizer_cluster_requests_percent{resource="memory",state="current"}'] == 10
    assert s['rightsizer_cluster_requests_percent{resource="memory",state="recommended"}'] == 7.5
    assert s['rightsizer_cluster_requests_percent{resource="cpu",state="current"}'] == 0.5
    assert s['rightsizer_node_budget_percent{node="n1",resource="cpu"}'] == 80
    assert s['rightsizer_recommendations{status="selected",action="downsize",reason="usage"}'] == 1
    assert s['rightsizer_decisions{status="selected"}'] == 1 and s['rightsizer_decisions{status="blocked"}'] == 0
    assert s['rightsizer_coverage_seconds{namespace="default",workload="a",container="app"}'] == 30 * 86400
    assert s["rightsizer_last_run_timestamp_seconds"] == s["rightsizer_last_success_timestamp_seconds"] == 1_800_000_000
    assert s['rightsizer_pull_request{scope="resources",state="open"}'] == 1
    assert s['rightsizer_pull_request_number{scope="resources"}'] == 7
    assert 'rightsizer_pull_request_number{scope="nodes"}' not in s
    assert s['rightsizer_estimated_monthly_savings{set="pr",currency="EUR"}'] == pytest.approx(3.65)


def test_failed_run_reports_only_run_time_and_failure():
    s = samples(metrics.failure(1_800_000_100))
    assert s == {"rightsizer_last_run_timestamp_seconds": 1_800_000_100, "rightsizer_run_success": 0}


def test_label_values_are_escaped():
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_demo_metrics_pass_promtool_lint_and_have_bounded_labels():
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    result, policy = demo_result()
    from bot.report.savings import prices_from_policy

    text = metrics.render(result.plan, RunInfo(now=1_800_000_000, pull_requests={"resources": ("open", 1)},
                                               prices=prices_from_policy(policy.raw.get("costs"))))
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    reasons = set(re.findall(r'reason="([^"]+)"', text))
    assert reasons <= {"usage", "restarts-or-oom", "does-not-fit", "over-cap", "excluded", "mode-off", "skip-command",
                       "not-in-git", "batch", "mode-report", "within-deadband", "not-enough-data", "hpa", "other"}
    assert {"selected", "over-cap", "blocked"} <= set(re.findall(r'rightsizer_recommendations\{status="([^"]+)"', text))


def test_a_malformed_pushgateway_header_is_one_clear_input_error(tmp_path, monkeypatch, capsys):
    from bot.cli import main
    from tests.report.demo_plan import DEMO

    monkeypatch.setenv("RIGHTSIZER_PUSHGATEWAY_HEADERS", "X-Scope-OrgID tenant-1")  # no colon
    for key in ("GITHUB_REPOSITORY", "RIGHTSIZER_GITHUB_TOKEN", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    code = main(["run", "--repo", str(tmp_path), "--snapshot", str(DEMO / "snapshot.yaml"), "--dry-run",
                 "--report-path", str(tmp_path / "out" / "report.json"), "--pushgateway-url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "RIGHTSIZER_PUSHGATEWAY_HEADERS: a Pushgateway header must look like `Name: value`" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_push_errors_never_show_credentials_from_the_url():
    from bot.report.push import PushConfig, PushError, push

    # Port 9 (discard) on localhost refuses the connection: the push fails after its retries.
    with pytest.raises(PushError) as err:
        push(PushConfig("http://user:hunter2@127.0.0.1:9/", retries=1, backoff=0.01), {"cluster": "c"}, "x 1\n")
    assert "hunter2" not in str(err.value) and "http://127.0.0.1:9" in str(err.value)
