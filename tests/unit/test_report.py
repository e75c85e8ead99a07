"""The PR text: columns mean what their headers say, trimming keeps it under GitHub's limit, explain works."""

from bot.engine.plan import build_plan
from bot.report.markdown import explain, render_pr_body
from tests.unit.helpers import GI, MI, container, node, pct, spec, workload
from tests.unit.test_select import make_policy, snap


def one_change_plan():
    # requests 100m / 256Mi, limits 400m / 1Gi; usage p95 300m CPU, 512Mi memory with the neutral memory policy.
    w = workload("app", [container(resources=spec(100, 256 * MI, 400, GI), cpu=pct(0.3), memory=pct(512 * MI))])
    return build_plan(snap([w], [node("n1", 8000, 16 * GI)]), make_policy())


def test_table_cells_line_up_with_headers():
    plan = one_change_plan()
    body = render_pr_body(plan)
    lines = body.splitlines()
    header = next(l for l in lines if l.startswith("| Workload"))
    row = next(l for l in lines if l.startswith("| `default/app`"))
    cells = dict(zip([h.strip() for h in header.strip("|").split("|")], [c.strip() for c in row.strip("|").split("|")]))
    rec = plan.selected[0].recommendation
    assert cells["Memory request (Mi)"].startswith("256 → **512**")
    assert cells["Memory limit (Mi)"] == "1024"  # kept (limit mode keep)
    assert cells["CPU request (m)"].startswith("100 → **")
    assert rec.proposed.limits.cpu is not None and cells["CPU limit (m)"].startswith("400")
    assert cells["Node"] == "n1" and cells["Usage (days of data)"] == "p95 300m / p95 512Mi · 30d"


def test_body_is_trimmed_below_the_limit():
    workloads = [workload(f"app{i:03d}", [container(resources=spec(1000, 4 * GI), cpu=pct(0.1), memory=pct(GI))]) for i in range(300)]
    plan = build_plan(snap(workloads, [node("n1", 640_000, 2048 * GI)]), make_policy(max_changes=300))
    full = render_pr_body(plan, limit=10**9)
    assert len(full) > 60_000
    body = render_pr_body(plan, details_url="https://example.invalid/run/1")
    assert len(body) <= 60_000
    assert "| `default/app299`" in body  # the changes table survives trimming; rationale goes first
    assert "https://example.invalid/run/1" in body


def test_explain_one_workload():
    plan = one_change_plan()
    text = explain(plan, "default/app")
    assert "**`default/app/app`**: selected" in text and "p95 usage over the window: 300m" in text
    assert "No container matches" in explain(plan, "default/nope")


def test_node_chart_in_the_body():
    plan = one_change_plan()
    body = render_pr_body(plan)
    # Memory on n1 (16Gi = 16384Mi allocatable, 40 cells of 409.6Mi): before 256Mi → round(0.625) = 1 cell, 1.6% → "2%";
    # after 512Mi → round(1.25) = 1 cell, 3.1% → "3%"; the budget, 80% = 13107.2Mi, marks cell round(32) = 32.
    bar = "█" + "·" * 31 + "│" + "·" * 7
    assert f"n1  before {bar}   2% 256Mi" in body
    assert f"    after  {bar}   3% 512Mi  budget 13107.2Mi" in body
