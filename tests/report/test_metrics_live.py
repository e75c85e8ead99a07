"""Metrics with real parts: Debian's prometheus-pushgateway (basic auth on) receives the demo's
metrics through bot.report.push, a real Prometheus scrapes it, and every PromQL expression of
the shipped Grafana dashboard returns data."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from bot.report import metrics
from bot.report.push import PushConfig, PushError, group_path, push
from bot.report.savings import prices_from_policy
from tests.fixtures.prometheus.server import free_port
from tests.report.demo_plan import demo_result
from tests.report.grafana import expressions, load

USER, PASSWORD = "rightsizer", "s3cret-pw"
# bcrypt of PASSWORD (cost 4), computed once with crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)).
PASSWORD_HASH = "$2b$04$/c9Ezb99qm6Z9boLSICoL.YxFySWgb/TlRpWvEucNrxtG7uQjM90K"
GROUPING = {"cluster": "home", "repository": "octo-org/octo-repo"}


def _need(binary: str, script: str) -> None:
    if not shutil.which(binary):
        pytest.skip(f"{binary} is not installed (scripts/deps.d/{script} installs Debian's package)")


def _wait(url: str, proc: subprocess.Popen, auth=None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: " + proc.stderr.read().decode()[-2000:])
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(url, timeout=1, auth=auth).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in 30 s")


@contextlib.contextmanager
def _process(args: list[str]):
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def stack():
    """(pushgateway URL, prometheus URL): Prometheus scrapes the gateway every second, with basic auth."""
    _need("prometheus-pushgateway", "pushgateway.sh")
    _need("prometheus", "prometheus.sh")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "web.yml").write_text(f"basic_auth_users:\n  {USER}: {PASSWORD_HASH}\n")
        gw_port, prom_port = free_port(), free_port()
        gw = f"http://127.0.0.1:{gw_port}"
        (tmp / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: pushgateway
    honor_labels: true  # keep the pushed job/cluster/repository labels
    basic_auth: {{username: {USER}, password: {PASSWORD}}}
    static_configs: [{{targets: ["127.0.0.1:{gw_port}"]}}]
""")
        # Debian builds the gateway to persist into /var/lib/prometheus by default: keep it in our tmp.
        with _process(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gw_port}",
                       f"--web.config.file={tmp / 'web.yml'}", f"--persistence.file={tmp / 'pushgateway.data'}",
                       "--log.level=error"]) as gw_proc, \
             _process(["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=error"]) as prom_proc:
            _wait(gw + "/-/ready", gw_proc, auth=(USER, PASSWORD))
            prom = f"http://127.0.0.1:{prom_port}"
            _wait(prom + "/-/ready", prom_proc)
            yield gw, prom


def _text(now: float) -> str:
    result, policy = demo_result()
    return metrics.render(result.plan, metrics.RunInfo(
        now=now, pull_requests={"resources": ("open", 1), "nodes": ("open", 2)},
        prices=prices_from_policy(policy.raw.get("costs"))))


def _query(prom: str, expr: str) -> list:
    r = requests.get(prom + "/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def _until(prom: str, expr: str, check, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        result = _query(prom, expr)
        if check(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_group_path_is_stable_and_encodes_slashes():
    # "octo-org/octo-repo" base64url → b2N0by1vcmcvb2N0by1yZXBv (the Pushgateway's @base64 form).
    assert group_path(GROUPING) == "/metrics/job/rightsizer/cluster/home/repository@base64/b2N0by1vcmcvb2N0by1yZXBv"


def test_push_needs_the_credentials(stack):
    gw, _ = stack
    with pytest.raises(PushError) as err:
        push(PushConfig(gw, retries=0), GROUPING, _text(time.time()))
    assert "401" in str(err.value) and PASSWORD not in str(err.value)


def test_pushed_metrics_feed_every_dashboard_query(stack):
    gw, prom = stack
    cfg = PushConfig(gw, username=USER, password=PASSWORD)
    first = time.time() - 3600
    push(cfg, GROUPING, _text(first))
    push(cfg, GROUPING, _text(time.time()))  # the next run: same group, so the same series
    series = _until(prom, 'count({job="rightsizer", cluster="home"})', lambda r: bool(r))
    lines = [l for l in _text(0).splitlines() if l and not l.startswith("#")]
    # Every pushed sample is one series, plus push_time_seconds and push_failure_time_seconds per group.
    assert int(float(series[0]["value"][1])) == len(lines) + 2

    # A failed run: only the run time and the failure change; the last success and the numbers stay.
    push(cfg, GROUPING, metrics.failure(time.time()), replace=False)
    ok = _until(prom, 'rightsizer_run_success{cluster="home"}', lambda r: r and r[0]["value"][1] == "0")
    assert ok[0]["value"][1] == "0"
    assert _query(prom, 'rightsizer_last_success_timestamp_seconds{cluster="home"}')
    assert int(float(_query(prom, 'count({job="rightsizer", cluster="home"})')[0]["value"][1])) == len(lines) + 2

    # The dashboard's cluster variable: label_values(rightsizer_last_run_timestamp_seconds, cluster).
    r = requests.get(prom + "/api/v1/label/cluster/values",
                     params={"match[]": "rightsizer_last_run_timestamp_seconds"}, timeout=10).json()
    assert r["data"] == ["home"]
    empty = [name for name, expr in expressions(load(), "home") if not _query(prom, expr)]
    assert not empty, f"dashboard queries without data: {empty}"
    # And the savings panel shows what the demo's report says (same prices, same plan).
    result, _ = demo_result()
    pr_savings = float(_query(prom, 'sum(rightsizer_estimated_monthly_savings{cluster="home", set="pr"})')[0]["value"][1])
    assert pr_savings == pytest.approx(-result.report["savings"]["prMonthlyCostChange"], abs=0.011)


def _gateway_samples(gw: str) -> dict[str, float]:
    text = requests.get(gw + "/metrics", auth=(USER, PASSWORD), timeout=10).text
    return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
            if l.startswith("rightsizer_") and 'repository="local"' in l}


def test_the_run_command_pushes_and_a_failed_run_keeps_the_last_success(stack, tmp_path, monkeypatch):
    import shutil as sh

    from bot.cli import main
    from tests.report.demo_plan import DEMO, demo_repo

    gw, _ = stack
    work = tmp_path / "repo"
    sh.copytree(demo_repo(), work)
    for key in ("GITHUB_REPOSITORY", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "RIGHTSIZER_GITHUB_TOKEN", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RIGHTSIZER_PUSHGATEWAY_USERNAME", USER)
    monkeypatch.setenv("RIGHTSIZER_PUSHGATEWAY_PASSWORD", PASSWORD)
    argv = ["run", "--repo", str(work), "--snapshot", str(DEMO / "snapshot.yaml"), "--dry-run",
            "--report-path", str(tmp_path / "out" / "report.json"), "--pushgateway-url", gw]
    assert main(argv) == 0
    written = (tmp_path / "out" / "metrics.prom").read_text()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "report.md", "metrics.prom"}
    pushed = _gateway_samples(gw)
    # The demo snapshot names its cluster "home"; without GitHub the repository key is "local".
    key = 'cluster="home",instance="",job="rightsizer",repository="local"'
    success = pushed[f"rightsizer_last_success_timestamp_seconds{{{key}}}"]
    assert pushed[f"rightsizer_run_success{{{key}}}"] == 1
    # What was pushed is what was written (one series per line).
    assert len([l for l in written.splitlines() if l and not l.startswith("#")]) == len(pushed)

    # A broken policy: exit 2 as always, and the gateway learns the run failed, keeping the last success.
    (work / ".github" / "rightsizer.yaml").write_text("bogus: 1\n")
    assert main(argv) == 2
    pushed = _gateway_samples(gw)
    assert pushed[f"rightsizer_run_success{{{key}}}"] == 0
    assert pushed[f"rightsizer_last_success_timestamp_seconds{{{key}}}"] == success
    assert pushed[f"rightsizer_last_run_timestamp_seconds{{{key}}}"] >= success
