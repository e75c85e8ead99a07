"""The shipped Grafana dashboard is valid JSON of the expected shape, and every panel's PromQL
parses with promtool (each expression as a recording rule: `promtool check rules` runs
Prometheus' own parser on it)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from bot.engine.plan import build_plan
from bot.report import metrics
from bot.report.savings import Prices
from tests.report.grafana import expressions, load, panels
from tests.unit.helpers import GI, container, pct, spec, workload
from tests.unit.test_select import NODES, make_policy, snap


def test_dashboard_shape():
    dash = load()
    assert dash["uid"] == "rightsizer" and dash["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["cluster"]["type"] == "query"
    assert variables["cluster"]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels(dash):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and p["description"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert 'cluster="$cluster"' in t["expr"], f"{p['title']}: not filtered by the cluster variable"
    titles = {p["title"] for p in panels(dash)}
    # The panels the README describes.
    assert {"Cluster CPU requests, % of allocatable", "Cluster memory requests, % of allocatable",
            "Recommendations by action", "Blocked", "Least coverage", "Last success age",
            "Estimated monthly savings"} <= titles


def test_no_two_panels_overlap():
    cells = set()
    for p in load()["panels"]:
        g = p["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, p["title"]
        assert g["x"] + g["w"] <= 24
        cells |= mine


def test_every_metric_name_is_one_the_run_writes():
    w = workload("a", [container(resources=spec(100, 2 * GI), memory=pct(1.5 * GI))])
    text = metrics.render(build_plan(snap([w], NODES), make_policy()),
                          metrics.RunInfo(now=1.0, pull_requests={"resources": ("open", 1)}, prices=Prices()))
    written = set(re.findall(r"^# TYPE (\S+) gauge", text, re.M))
    used = {m for _, e in expressions(load(), "home") for m in re.findall(r"\brightsizer_[a-z_]+", e)}
    assert used and used <= written, used - written


def _promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool (Debian's prometheus package) is not installed: scripts/deps.d/prometheus.sh")
    return found


def _check_rules(tmp_path, exprs: list[str]) -> subprocess.CompletedProcess:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "rules.yml"
    with path.open("w") as fh:
        YAML().dump(rules, fh)
    return subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)


def test_every_panel_query_parses_with_promtool(tmp_path):
    exprs = [e for _, e in expressions(load(), "home")]
    assert len(exprs) >= 15
    out = _check_rules(tmp_path, exprs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in out.stdout


def test_the_promtool_check_catches_a_broken_query(tmp_path):
    # Control: the same check rejects an expression with a syntax error.
    out = _check_rules(tmp_path, ['sum by (state (rightsizer_decisions{cluster="home"})'])
    assert out.returncode != 0 and "parse error" in (out.stdout + out.stderr)
