"""The estimator chain, step by step, with every expected number derived by hand."""

from dataclasses import replace

import pytest

from bot.engine.recommend import recommend
from bot.policy import Pin, container_policy, load_preset
from tests.unit.helpers import DAY, GI, MI, container, pct, spec

WINDOW = 14 * DAY
RA = load_preset("resource-advisor")


def policy(**over):
    """A neutral policy: no margin, no step limit, no deadband, 1m/1Mi nearest rounding; override per test."""
    base = {
        "cpu": {"percentile": "p95", "margin": 0, "maxIncreasePercent": 1000, "maxDecreasePercent": 100,
                "round": {"step": "1m", "direction": "nearest"}, "limit": {"mode": "keep"}},
        "memory": {"percentile": "p95", "margin": 0, "maxIncreasePercent": 1000, "maxDecreasePercent": 100,
                   "round": {"step": "1Mi", "direction": "nearest"}, "limit": {"mode": "keep"}},
        "coverage": {"required": "0s"},
        "guards": {"restart": False},
    }
    for key, value in over.items():
        if isinstance(value, dict) and key in base:
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return container_policy(base)


# --- seed 000's worked example -------------------------------------------------

def test_resource_advisor_worked_example_converges_in_steps():
    # Seed 000: current 100m, target 200m → first run 125m (+25% cap), next run ~156m (125 × 1.25 = 156.25).
    # Target 200m = p95 × 1.30, so p95 = 200/1.3 m = 0.153846… cores.
    usage = pct(0.2 / 1.3)
    c = container(resources=spec(cpu_req=100), cpu=usage, days=30)
    first = recommend(c, RA, WINDOW)
    assert first.target.requests.cpu == 200
    assert first.proposed.requests.cpu == 125
    second = recommend(container(resources=first.proposed, cpu=usage, days=30), RA, WINDOW)
    assert second.proposed.requests.cpu == 156  # 156.25 rounded to the nearest 1m
    third = recommend(container(resources=second.proposed, cpu=usage, days=30), RA, WINDOW)
    assert third.proposed.requests.cpu == 195  # 156 × 1.25 = 195
    fourth = recommend(container(resources=third.proposed, cpu=usage, days=30), RA, WINDOW)
    assert fourth.proposed.requests.cpu == 195  # target 200 is within 10% of 195: deadband


def test_resource_advisor_limit_formulas():
    # p95 CPU 100m: request target 130m; limit = max(130 × 2.0, 100 × 1.6) = 260m.
    # p95 memory 400Mi: request target 520Mi; limit = max(520 × 1.5, 400 × 1.6) = max(780, 640) = 780Mi.
    c = container(resources=spec(), cpu=pct(0.1), memory=pct(400 * MI), days=30)
    rec = recommend(c, RA, WINDOW)  # nothing set yet: seed's recommend() returns the target as is
    assert rec.proposed == spec(130, 520 * MI, 260, 780 * MI)


def test_resource_advisor_restart_guard_blocks_memory_decrease_only():
    # Memory target 260Mi (p95 200Mi × 1.3) would cut 512Mi by 25% → 384Mi, but a restart blocks it.
    # CPU target 130m from 200m: −25% cap → 150m, allowed despite restarts (seed: "CPU can still be adjusted").
    c = container(resources=spec(200, 512 * MI, None, 1 * GI), cpu=pct(0.1), memory=pct(200 * MI), restarts=3)
    rec = recommend(c, RA, WINDOW)
    assert rec.proposed.requests.memory == 512 * MI
    assert rec.proposed.limits.memory == GI
    assert rec.proposed.requests.cpu == 150
    assert any(s.name == "restart guard" for s in rec.steps)


def test_resource_advisor_coverage_gate_and_restart_exception():
    # 5 days < 14 days required: a plain downsize waits.
    down = recommend(container(resources=spec(500, 512 * MI), cpu=pct(0.1), memory=pct(100 * MI), days=5), RA, WINDOW)
    assert down.proposed == down.current and "14 days" in down.blocked
    # ...but a restarting container's memory upsize goes ahead; its CPU change waits.
    # memory target 600Mi × 1.3 = 780Mi from 512Mi: +25% cap → 640Mi. CPU 100m → 130m would be an upsize but waits.
    up = recommend(container(resources=spec(100, 512 * MI), cpu=pct(0.1), memory=pct(600 * MI), days=5, restarts=2), RA, WINDOW)
    assert up.blocked is None and up.urgent
    assert up.proposed.requests.memory == 640 * MI
    assert up.proposed.requests.cpu == 100


# --- each step of the chain --------------------------------------------------------

def test_percentile_choice_per_resource():
    c = container(resources=spec(1000, GI), cpu=pct(0.3, p90=0.2, p99=0.5), memory=pct(300 * MI, p99=500 * MI))
    rec = recommend(c, policy(cpu={"percentile": "p90"}, memory={"percentile": "p99"}), WINDOW)
    assert rec.proposed.requests.cpu == 200 and rec.proposed.requests.memory == 500 * MI


def test_hourly_percentile_takes_the_busiest_hour():
    hourly = tuple([0.1] * 23 + [0.4])
    c = container(resources=spec(cpu_req=1000), cpu=pct(0.2))
    c = replace(c, usage=replace(c.usage, cpu_hourly_p95=hourly))
    assert recommend(c, policy(cpu={"percentile": "hourly-p95"}), WINDOW).proposed.requests.cpu == 400


def test_margin():
    # 200m × 1.25 = 250m
    rec = recommend(container(resources=spec(cpu_req=1000), cpu=pct(0.2)), policy(cpu={"margin": 0.25}), WINDOW)
    assert rec.proposed.requests.cpu == 250


def test_burst_applies_only_when_peak_is_far_above_percentile():
    p = policy(cpu={"burst": {"threshold": 3.0, "headroom": 0.5}})
    spiky = container(resources=spec(cpu_req=1000), cpu=pct(0.2, max=0.6))  # 0.6 = 3 × 0.2 → 200 × 1.5 = 300m
    calm = container(resources=spec(cpu_req=1000), cpu=pct(0.2, max=0.59))
    assert recommend(spiky, p, WINDOW).proposed.requests.cpu == 300
    assert recommend(calm, p, WINDOW).proposed.requests.cpu == 200


def test_confidence_widens_with_missing_data():
    # 7 of 14 days: factor 1 + 0.4 × (1 − 0.5) = 1.2 → 200m × 1.2 = 240m
    c = container(resources=spec(cpu_req=1000), cpu=pct(0.2), days=7)
    assert recommend(c, policy(confidence={"maxWiden": 0.4}), WINDOW).proposed.requests.cpu == 240
    full = container(resources=spec(cpu_req=1000), cpu=pct(0.2), days=14)
    assert recommend(full, policy(confidence={"maxWiden": 0.4}), WINDOW).proposed.requests.cpu == 200


def test_bounds_clamp_the_target():
    low = container(resources=spec(cpu_req=1000), cpu=pct(0.001))
    high = container(resources=spec(cpu_req=1000), cpu=pct(8.0))
    p = policy(cpu={"min": "50m", "max": "2"})
    assert recommend(low, p, WINDOW).proposed.requests.cpu == 50
    assert recommend(high, p, WINDOW).proposed.requests.cpu == 2000


@pytest.mark.parametrize(
    "rule, expected_limit",
    [
        ({"mode": "ratio", "requestRatio": 1.5}, 300),  # 200 × 1.5
        ({"mode": "equal"}, 200),
        ({"mode": "keep"}, 1000),
        ({"mode": "none"}, None),
        ({"mode": "formula", "requestRatio": 1.2, "usage": "max", "usageMargin": 0.5}, 450),  # max(240, 300 × 1.5)
    ],
)
def test_limit_rules(rule, expected_limit):
    c = container(resources=spec(cpu_req=500, cpu_lim=1000), cpu=pct(0.2, max=0.3))
    assert recommend(c, policy(cpu={"limit": rule}), WINDOW).proposed.limits.cpu == expected_limit


def test_limit_only_if_set_never_adds_a_limit():
    c = container(resources=spec(cpu_req=500), cpu=pct(0.2))
    rec = recommend(c, policy(cpu={"limit": {"mode": "ratio", "requestRatio": 2, "onlyIfSet": True}}), WINDOW)
    assert rec.proposed.limits.cpu is None and rec.proposed.requests.cpu == 200


def test_separate_max_increase_and_decrease():
    p = policy(cpu={"maxIncreasePercent": 100, "maxDecreasePercent": 20})
    up = container(resources=spec(cpu_req=100), cpu=pct(0.5))  # 500m wanted, +100% → 200m
    down = container(resources=spec(cpu_req=1000), cpu=pct(0.1))  # 100m wanted, −20% → 800m
    assert recommend(up, p, WINDOW).proposed.requests.cpu == 200
    assert recommend(down, p, WINDOW).proposed.requests.cpu == 800


def test_oom_bump_raises_memory_even_when_usage_says_less():
    # p95 300Mi, request 512Mi, limit 512Mi (Guaranteed memory only → Burstable overall).
    # OOM bump 25%: request ≥ 640Mi, limit ≥ 640Mi.
    c = container(resources=spec(100, 512 * MI, None, 512 * MI), cpu=pct(0.1), memory=pct(300 * MI), oom=1, restarts=1)
    rec = recommend(c, policy(guards={"restart": True, "oomBumpPercent": 25}), WINDOW)
    assert rec.proposed.requests.memory == 640 * MI and rec.proposed.limits.memory == 640 * MI
    assert rec.urgent


def test_throttle_guard_raises_cpu_limit():
    c = container(resources=spec(200, None, 400, None), cpu=pct(0.2), throttled=0.4)
    rec = recommend(c, policy(guards={"throttleBumpPercent": 50, "throttleThreshold": 0.25}), WINDOW)
    assert rec.proposed.limits.cpu == 600  # 400 × 1.5


def test_no_downsize_allows_growth_only():
    p = policy(guards={"noDownsize": True})
    down = container(resources=spec(1000, GI), cpu=pct(0.1), memory=pct(100 * MI))
    up = container(resources=spec(100, GI), cpu=pct(0.5), memory=pct(100 * MI))
    assert recommend(down, p, WINDOW).proposed == spec(1000, GI)
    assert recommend(up, p, WINDOW).proposed == spec(500, GI)


def test_hpa_resource_is_kept_unless_allowed():
    c = container(resources=spec(1000, GI), cpu=pct(0.1), memory=pct(100 * MI))
    kept = recommend(c, policy(hpa="skip"), WINDOW, hpa_resources=("cpu",), hpa_name="web")
    assert kept.proposed.requests.cpu == 1000 and kept.proposed.requests.memory == 100 * MI
    assert any(s.name == "HPA" and "kept" in s.text for s in kept.steps)
    allowed = recommend(c, policy(hpa="allow"), WINDOW, hpa_resources=("cpu",), hpa_name="web")
    assert allowed.proposed.requests.cpu == 100


def test_guaranteed_stays_guaranteed():
    # CPU limit rule "ratio" has no usage part: the shared value is the request, 300m.
    # Memory limit rule "keep": a Guaranteed container keeps its limit, so its request stays equal to it (1Gi).
    c = container(resources=spec(1000, GI, 1000, GI), cpu=pct(0.3), memory=pct(300 * MI))
    rec = recommend(c, policy(cpu={"limit": {"mode": "ratio", "requestRatio": 2}}), WINDOW)
    assert rec.proposed == spec(300, GI, 300, GI)


def test_guaranteed_shared_value_covers_the_peak_with_the_limit_margin():
    # postgres-like: requests = limits = 1000m, p95 200m, peak 260m. Request rule alone: 200 × 1.15 = 230m, which
    # would cap the container under its own peak. The limit rule's usage part: max × 1.2 = 312m → 1m nearest = 312m.
    p = policy(cpu={"margin": 0.15, "limit": {"mode": "formula", "requestRatio": 2, "usage": "max", "usageMargin": 0.2}})
    c = container(resources=spec(1000, GI, 1000, GI), cpu=pct(0.2, max=0.26), memory=pct(GI))
    rec = recommend(c, p, WINDOW)
    assert rec.proposed.requests.cpu == rec.proposed.limits.cpu == 312
    assert rec.proposed.limits.cpu >= 260 and not rec.warnings


def test_limit_never_below_request():
    # The limit is kept (1Gi) but the request grows to 1.5Gi: the limit must follow.
    c = container(resources=spec(None, GI, None, 2 * GI), memory=pct(1536 * MI))
    rec = recommend(c, policy(memory={"limit": {"mode": "keep"}}), WINDOW)
    assert rec.proposed.requests.memory == 1536 * MI and rec.proposed.limits.memory == 2 * GI
    c2 = container(resources=spec(None, GI, None, GI + 1), memory=pct(1536 * MI))
    rec2 = recommend(c2, policy(memory={"limit": {"mode": "keep"}}, guards={"restart": False}), WINDOW)
    assert rec2.proposed.limits.memory >= rec2.proposed.requests.memory


def test_limit_only_container_gets_an_explicit_request():
    # Only a memory limit of 1Gi: Kubernetes reserves 1Gi. Usage 200Mi → request 200Mi is written, limit kept.
    c = container(resources=spec(None, None, None, GI), memory=pct(200 * MI))
    rec = recommend(c, policy(), WINDOW)
    assert rec.proposed.requests.memory == 200 * MI and rec.proposed.limits.memory == GI


def test_no_usage_data_leaves_resource_alone():
    c = container(resources=spec(100, GI), cpu=pct(0.5), memory=None)
    rec = recommend(c, policy(), WINDOW)
    assert rec.proposed == spec(500, GI)


def test_pin_sets_the_request():
    c = container(resources=spec(100, GI, None, 2 * GI), cpu=pct(0.5), memory=pct(100 * MI))
    rec = recommend(c, policy(), WINDOW, pin=Pin("default/x/app", cpu=250, memory=None))
    assert rec.proposed.requests.cpu == 250 and rec.proposed.requests.memory == 100 * MI


def test_every_changing_step_leaves_a_rationale_line():
    c = container(resources=spec(100, 512 * MI, 200, GI), cpu=pct(0.3, max=1.0), memory=pct(600 * MI), restarts=1, oom=1, days=30)
    rec = recommend(c, load_preset("balanced"), WINDOW)
    names = [s.name for s in rec.steps]
    for expected in ("percentile", "margin", "burst", "limit", "max step"):
        assert expected in names, names
    assert all(s.text for s in rec.steps)


def test_balanced_rounds_up_to_friendly_steps():
    # CPU p95 123m, no margin, no burst (peak = p95) → 10m steps above 100m → 130m.
    # Memory p95 300Mi × 1.15 = 345Mi → 1Mi steps → 345Mi.
    c = container(resources=spec(1000, 2 * GI), cpu=pct(0.123), memory=pct(300 * MI), days=30)
    rec = recommend(c, load_preset("balanced"), WINDOW)
    assert rec.target.requests.cpu == 130
    assert rec.target.requests.memory == 345 * MI


def test_limit_may_shrink_slower_than_the_request():
    # memory p95 100Mi: request 1Gi → 100Mi allowed (max decrease 95%); the limit's own cap of 10%
    # keeps it at 2Gi × 0.9 = 1843.2Mi → 1843Mi (1Mi nearest rounding).
    p = policy(memory={"maxDecreasePercent": 95, "limit": {"mode": "ratio", "requestRatio": 1.0, "maxDecreasePercent": 10}})
    rec = recommend(container(resources=spec(None, GI, None, 2 * GI), memory=pct(100 * MI)), p, WINDOW)
    assert rec.proposed.requests.memory == 100 * MI
    assert rec.proposed.limits.memory == 1843 * MI


def test_a_step_that_lands_within_the_deadband_is_where_the_value_settles():
    # balanced memory request: flat p99 3570Mi × 1.15 = 4105.5Mi. From 2048Mi it may at most double (+100%)
    # → 4096Mi. 4105.5 − 4096 = 9.5Mi is under the deadband (10% and 32Mi), so the next run keeps 4096Mi:
    # the long-run target is 4096Mi, and the PR must not say "later runs continue".
    c = container(resources=spec(100, 2048 * MI), cpu=pct(0.08), memory=pct(3570 * MI), days=30)
    rec = recommend(c, load_preset("balanced"), WINDOW)
    assert rec.proposed.requests.memory == 4096 * MI
    assert rec.target.requests.memory == 4096 * MI
    again = recommend(container(resources=rec.proposed, cpu=pct(0.08), memory=pct(3570 * MI), days=30),
                      load_preset("balanced"), WINDOW)
    assert again.proposed == rec.proposed
