"""Savings: every number below is worked out by hand in the comment next to it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.engine.plan import OVER_CAP, SELECTED, build_plan
from bot.policy import Overrides
from bot.report import savings
from bot.report.savings import Prices, decision_change, prices_from_policy, request_delta, savings_dict
from tests.unit.helpers import GI, MI, container, pct, spec, workload
from tests.unit.test_select import NODES, make_policy, mem_app, snap

NEUTRAL_CPU = {"percentile": "p95", "margin": 0, "maxIncreasePercent": 1000, "maxDecreasePercent": 100,
               "deadband": {"percent": 0, "absolute": 0}, "round": {"step": "10m", "direction": "nearest"},
               "limit": {"mode": "keep"}}


def test_defaults_are_opencost_list_prices_and_energy_alone_prices_only_electricity():
    assert prices_from_policy(None) == Prices(0.031611, 0.004237)
    homelab = prices_from_policy({"energy": {"wattsPerCore": 10, "wattsPerGiB": 0.5, "pricePerKWh": 0.30},
                                  "currency": "EUR"})
    # 10 W × 0.30 /kWh = 0.003 per core-hour; 0.5 W × 0.30 /kWh = 0.00015 per GiB-hour; no list price.
    assert homelab.per_core_hour == pytest.approx(0.003)
    assert homelab.per_gib_hour == pytest.approx(0.00015)
    both = prices_from_policy({"cpuCoreHour": 0.02, "energy": {"wattsPerCore": 10, "pricePerKWh": 0.30}})
    assert both.per_core_hour == pytest.approx(0.023)  # 0.02 + 0.003
    assert both.per_gib_hour == 0.0  # an energy model without memoryGiBHour: memory costs nothing extra


def test_two_replica_memory_downsize_hand_checked():
    # "a": 2 pods (n1, n2), each 2Gi requested, usage 1.5Gi → proposal 1.5Gi (neutral memory policy).
    # Δ = −0.5Gi × 2 pods = −1Gi.  Cost: 730 h × −1 GiB × 0.004 = −2.92 per month.
    w = workload("a", [container(resources=spec(100, 2 * GI), memory=pct(1.5 * GI))], nodes=("n1", "n2"))
    plan = build_plan(snap([w], NODES), make_policy())
    (d,) = plan.selected
    assert request_delta(d) == (0, -GI)
    assert decision_change(d, Prices(cpu_core_hour=0.05, memory_gib_hour=0.004)) == pytest.approx(-2.92)


def test_cpu_upsize_and_energy_model_hand_checked():
    # One pod, CPU request 200m, p95 usage 0.5 cores → 500m (neutral CPU): Δ = +300m = +0.3 cores.
    # Energy: 8 W per core × 0.25 per kWh = 0.002 per core-hour, plus list 0.03 → 0.032 per core-hour.
    # 730 × 0.3 × 0.032 = 7.008 per month.
    w = workload("busy", [container(resources=spec(200, 256 * MI), cpu=pct(0.5), memory=pct(256 * MI))])
    pol = make_policy()
    pol = replace(pol, defaults={**pol.defaults, "cpu": NEUTRAL_CPU})
    (d,) = build_plan(snap([w], NODES), pol).selected
    assert request_delta(d) == (300, 0)
    prices = Prices(cpu_core_hour=0.03, memory_gib_hour=0.0, watts_per_core=8, kwh=0.25)
    assert decision_change(d, prices) == pytest.approx(7.008)


def test_init_container_change_costs_only_what_the_pod_reserves_more():
    # Pod = max(app 1Gi, init 3Gi) = 3Gi. The init container's usage 1.5Gi → its request 3Gi → 1.5Gi:
    # the pod now reserves max(1Gi, 1.5Gi) = 1.5Gi, so the change frees 1.5Gi, not the app's share.
    # 730 × −1.5 × 0.01 = −10.95.
    w = workload("migrate", [
        container("app", resources=spec(100, 1 * GI), memory=pct(1 * GI)),
        container("init", resources=spec(100, 3 * GI), memory=pct(1.5 * GI), init=True),
    ])
    plan = build_plan(snap([w], NODES), make_policy())
    (d,) = [d for d in plan.selected if d.container == "init"]
    assert request_delta(d) == (0, -int(1.5 * GI))
    assert decision_change(d, Prices(0.0, 0.01)) == pytest.approx(-10.95)


def test_report_totals_pr_and_pending():
    # Cap 1 on the select test's scenario: c (−1Gi, largest saving) is selected; a and b (−0.5Gi each)
    # wait over the cap; big (+2Gi) is blocked. At 0.01 per GiB-hour:
    #   PR: 730 × −1 × 0.01 = −7.30;   pending: 730 × (−1 − 0.5 − 0.5 + 2) × 0.01 = 0.00.
    plan = build_plan(snap([mem_app("big", 3, 5), mem_app("a", 2, 1.5), mem_app("b", 2, 1.5), mem_app("c", 2, 1, "n2")], NODES),
                      make_policy(max_changes=1))
    out = savings_dict(plan, Prices(0.0, 0.01))
    assert out["prMonthlyCostChange"] == pytest.approx(-7.30)
    assert out["pendingMonthlyCostChange"] == pytest.approx(0.0)
    assert {c["ref"]: c["monthlyCostChange"] for c in out["changes"]} == {
        "default/c/app": -7.3, "default/a/app": -3.65, "default/b/app": -3.65, "default/big/app": 14.6}


def test_pr_section_lists_each_change_and_the_total():
    w = workload("a", [container(resources=spec(100, 2 * GI), memory=pct(1.5 * GI))], nodes=("n1", "n2"))
    plan = build_plan(snap([w], NODES), make_policy())
    text = "\n".join(savings.savings_section(plan, Prices(0.0, 0.004, currency="EUR")))
    assert "| `default/a/app` | CPU ±0, memory −1Gi | −2.92 EUR/month |" in text
    assert "| **This PR** | | **−2.92 EUR/month** |" in text


def test_include_takes_an_over_cap_change_beyond_the_cap():
    # Cap 1 selects c (largest saving). Including b (a tie with a at −0.5Gi, later by name) adds b beyond
    # the cap; a stays over the cap. b is a downsize: its slot is held while upsizes are chosen.
    s = snap([mem_app("a", 2, 1.5), mem_app("b", 2, 1.5), mem_app("c", 2, 1, "n2")], NODES)
    plain = build_plan(s, make_policy(max_changes=1))
    assert [d.key for d in plain.selected] == ["default/c/app"]
    pol = make_policy(max_changes=1).with_overrides(Overrides(includes=("default/b/app",)))
    plan = build_plan(s, pol)
    assert sorted(d.key for d in plan.selected) == ["default/b/app", "default/c/app"]
    assert [d.key for d in plan.by_status(OVER_CAP)] == ["default/a/app"]
    b = next(d for d in plan.decisions if d.key == "default/b/app")
    assert b.status == SELECTED and any("writer's request" in n for n in b.notes)
