"""The `resource-advisor` preset against seed 000's decision rules, case by case.

The published script (khzaw/rangoonpulse, infrastructure/resource-advisor/advisor.py) decides, per container:
  targets   request = max(floor, p95 × 1.30) with floors 25m / 64Mi;
            limit = max(request × 2.0, p95 × 1.60) for CPU and max(request × 1.5, p95 × 1.60) for memory;
  step      each of the four values moves to the target clamped to ±25% of its current value
            (a value that is not set counts as 0 and goes straight to its target);
  material  the container changes when any of its four values moves by ≥ 10% or by ≥ 25m / 64Mi,
            and then all four recommended values are written;
  rounding  whole millicores and whole MiB with Python's round(): halves go to the even neighbour;
  guards    restarts in the window: memory never below its current value; 14 days of data needed,
            except for restart-guarded upsizes.
Each expected number below is derived by hand from those rules (derivation in the comment); nothing is
computed by the code under test. Rightsizer judges materiality on the gap to the target rather than on the
clamped step; with a 25% step and a 10% threshold the two agree (a material gap always gives a ≥ 10% step).
"""

import pytest

from bot.engine.recommend import recommend
from bot.policy import load_preset
from tests.unit.helpers import DAY, GI, MI, container, pct, spec

RA = load_preset("resource-advisor")
WINDOW = 14 * DAY


def run(resources, cpu_p95, mem_p95_mi, runs=1, **kw):
    """Feed each run's proposal back as the next run's current values; usage stays the same."""
    values = resources
    for _ in range(runs):
        c = container(resources=values, cpu=pct(cpu_p95), memory=pct(mem_p95_mi * MI), **kw)
        values = recommend(c, RA, WINDOW).proposed
    return values


def mi(*xs):
    return [None if x is None else x * MI for x in xs]


def test_dead_zone_case_reaches_122m_260mi_in_four_runs():
    # 50m/128Mi requests, no limits; p95 100m / 200Mi.
    # targets: request 130m, 260Mi; limits max(260, 160) = 260m, max(390, 320) = 390Mi.
    # run 1: 50 × 1.25 = 62.5 → 62 (half to even); 128 × 1.25 = 160; limits unset → straight to 260m / 390Mi.
    # run 2: 62 × 1.25 = 77.5 → 78; 160 → 200.   run 3: 78 × 1.25 = 97.5 → 98; 200 → 250.
    # run 4: 98 × 1.25 = 122.5 → 122; memory 250 → 260 (10Mi, 4%: not material alone, but CPU is: all four move).
    # run 5: 122 vs 130 = 8m, 6.2%: nothing is material, nothing changes.
    expected = {1: (62, 160), 2: (78, 200), 3: (98, 250), 4: (122, 260), 5: (122, 260)}
    for runs, (cpu, mem) in expected.items():
        assert run(spec(50, 128 * MI), 0.1, 200, runs) == spec(cpu, mem * MI, 260, 390 * MI), runs


def test_the_blogs_worked_example():
    # "current 100m, target 200m: first run 125m, next ~156m": p95 = 200/1.3 m. Limit target max(400, 246.2) = 400m.
    # 100 → 125 → 156.25 → 156 → 195; then 195 vs 200 = 5m, 2.6%: kept.
    for runs, cpu in ((1, 125), (2, 156), (3, 195), (4, 195)):
        assert run(spec(100, 520 * MI, 400, 780 * MI), 0.2 / 1.3, 400, runs).requests.cpu == cpu


def test_half_to_even_rounding():
    # CPU 90m → 90 × 1.25 = 112.5 → 112 (even); memory 202Mi → 252.5 → 252 (even).
    # 70m → 87.5 → 88 (even, upward). Limits set at their targets (260m, 390Mi) stay.
    assert run(spec(90, 202 * MI, 260, 390 * MI), 0.1, 200) == spec(112, 252 * MI, 260, 390 * MI)
    assert run(spec(70, 260 * MI, 260, 390 * MI), 0.1, 200).requests.cpu == 88


def test_nothing_material_nothing_changes():
    # p95 150m / 400Mi: targets 195m, 390m; 520Mi, 780Mi. Current 200m, 400m, 512Mi, 768Mi:
    # gaps 5m (2.5%), 10m (2.5%), 8Mi (1.6%), 12Mi (1.6%): none reaches 10% or 25m / 64Mi.
    current = spec(200, 512 * MI, 400, 768 * MI)
    assert run(current, 0.15, 400) == current


def test_material_by_absolute_gap_alone():
    # p95 746.15m → request target 970m: 30m from 1000m is only 3%, but ≥ 25m → material (either threshold).
    # CPU limit target max(1940, 1193.8) = 1940m (60m, 3% from 2000m). Memory already at its targets.
    assert run(spec(1000, 520 * MI, 2000, 780 * MI), 0.97 / 1.3, 400) == spec(970, 520 * MI, 1940, 780 * MI)


def test_material_by_percent_alone():
    # p95 88.46m → target 115m: 15m < 25m but 15% ≥ 10% → material; within the 25% step → 115m.
    # CPU limit was unset → its target max(230, 141.5) = 230m is written too.
    assert run(spec(100, 520 * MI, None, 780 * MI), 0.115 / 1.3, 400) == spec(115, 520 * MI, 230, 780 * MI)


def test_one_material_value_moves_all_four():
    # CPU request 200m → target 195m (2.5%: alone, not material); memory request 256Mi → 520Mi (material).
    # All four move: CPU 195m; memory 256 × 1.25 = 320Mi; CPU limit 390m already at target; memory limit
    # 512Mi → target 780Mi clamped to 640Mi.
    assert run(spec(200, 256 * MI, 390, 512 * MI), 0.15, 400) == spec(195, 320 * MI, 390, 640 * MI)


def test_restart_guard_keeps_memory_cpu_still_moves():
    # p95 100m / 200Mi, 3 restarts. CPU: 200 → 150 (−25%: 150 ≥ 130), limit 400 → 300.
    # Memory targets 260Mi / 390Mi would shrink 512Mi / 1Gi: the guard keeps both.
    assert run(spec(200, 512 * MI, 400, GI), 0.1, 200, restarts=3) == spec(150, 512 * MI, 300, GI)


def test_floors_25m_64mi():
    # p95 5m / 20Mi: request targets max(25, 6.5) = 25m, max(64, 26) = 64Mi; limits max(50, 8) = 50m,
    # max(96, 32) = 96Mi. From 30m/80Mi/60m/128Mi every gap is ≥ 10% and within the 25% step.
    assert run(spec(30, 80 * MI, 60, 128 * MI), 0.005, 20) == spec(25, 64 * MI, 50, 96 * MI)


def test_fourteen_days_of_data_before_a_downsize():
    # Same as the floors case with 10 days of data: nothing changes yet.
    c = container(resources=spec(30, 80 * MI, 60, 128 * MI), cpu=pct(0.005), memory=pct(20 * MI), days=10)
    rec = recommend(c, RA, WINDOW)
    assert rec.proposed == rec.current and "policy needs 14 days" in rec.blocked


def test_restart_guarded_upsize_goes_ahead_without_fourteen_days():
    # 5 days of data, 2 restarts, p95 100m / 600Mi. Memory: request 512 → 640Mi (target 780, +25% cap);
    # limit 1Gi → target max(1170, 960) = 1170Mi (within +25%: 1280). The CPU upsize (100 → 125m) waits:
    # Rightsizer lets only the memory increase through (the seed would write the CPU change too).
    c = container(resources=spec(100, 512 * MI, 200, GI), cpu=pct(0.1), memory=pct(600 * MI), days=5, restarts=2)
    rec = recommend(c, RA, WINDOW)
    assert rec.proposed == spec(100, 640 * MI, 200, 1170 * MI) and rec.urgent


@pytest.mark.parametrize("runs", [1, 2, 3])
def test_every_value_is_a_whole_millicore_or_mib(runs):
    values = run(spec(333, 333 * MI), 0.1234, 212.3, runs)
    for kind in ("requests", "limits"):
        assert getattr(values, kind).cpu == int(getattr(values, kind).cpu)
        assert getattr(values, kind).memory % MI == 0
