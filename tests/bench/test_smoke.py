"""Small runs of every benchmark so they cannot rot (the full runs are `python -m tests.bench quality|scale`).
Expected facts about the shared traces come from ../shared/traces/README.md, not from our loader; every
anchor's number below is computed by hand from its documented formula (docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.model import Resources, ResourceSpec
from tests.bench import quality, scale
from tests.bench.__main__ import main as bench_main
from tests.bench.estimators import AttuneDefault, KrrSimple, Learn, Preset, SeedFormula, Vpa
from tests.bench.traces import TRACES, load, load_all

MI, GI, DAY = 2**20, 2**30, 86400


def trace(name: str) -> Path:
    path = TRACES / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"the shared traces are not here ({TRACES}): these smoke tests read ../shared/traces")
    return path


def test_loader_handles_the_documented_quirks():
    # README: 20.csv has 25,673 rows and 17,073 distinct timestamps → 8,600 repeated rows
    # (8,450 timestamps twice + 75 three times = 8,450 + 150); almost all its rows report 0 memory capacity.
    s20 = load(trace("20"))
    assert s20 is None or s20.duplicate_timestamps == 8600
    # README: every file starts 2013-07-31 22:02:56 UTC = 1375308176 (the "[ms]" column holds seconds)
    s10 = load(trace("10"))
    assert s10.t[0] == 1375308176 and s10.duplicate_timestamps == 0
    # README: 120.csv's memory is resized between 1.0 and 15.9 GiB (it starts at 15.9); the size at a
    # given time is the last row's before it
    s120 = load(trace("120"))
    assert 15.8 < s120.mem_capacity / GI < 16.0
    assert s120.mem_cap.min() < 1.05 * GI and s120.mem_cap.max() > 15.8 * GI
    last = int(s120.t[-1])
    assert s120.provisioned_at(last + 1)[1] == s120.mem_cap[-1] and s120.provisioned_at(last)[1] == s120.mem_cap[-2]
    # cores used = MHz used / (MHz provisioned / cores): never above the provisioned cores by much
    assert s10.cpu.max() <= s10.cores.max() * 1.05


# --- one hand-computed value per anchor --------------------------------------------------------
# 14 days of 5-minute samples (4,032), flat usage: 0.5 core and 1 GiB; provisioned 2 cores / 4 GiB,
# memory limit 4 GiB, no CPU limit. Flat usage makes every percentile and the max equal to the value.

def flat_learn() -> Learn:
    t = np.arange(4032, dtype=np.int64) * 300
    return Learn(np.full(4032, 0.5), np.full(4032, float(GI)), t, 4032 * 300.0,
                 ResourceSpec(Resources(2000, 4 * GI), Resources(None, 4 * GI)))


def test_krr_simple_by_hand():
    # CPU request = p95 = 500m, no CPU limit; memory request = limit = max × 1.15 = 1,234,803,097.6 → ceil.
    assert KrrSimple()(flat_learn()) == ResourceSpec(Resources(500, 1_234_803_098), Resources(None, 1_234_803_098))


def test_seed_formula_by_hand():
    # request = p95 × 1.3: 650m and 1331.2Mi → 1331Mi; CPU limit = max(650 × 2, 500 × 1.6) = 1300m;
    # memory limit = max(1331 × 1.5, 1024 × 1.6) = max(1996.5, 1638.4) = 1996.5 → 1996Mi (half to even).
    assert SeedFormula()(flat_learn()) == ResourceSpec(Resources(650, 1331 * MI), Resources(1300, 1996 * MI))


def test_vpa_by_hand():
    # CPU: 0.5 core falls in bucket ⌊ln(0.5 × 0.05 / 0.01 + 1) / ln 1.05⌋ = ⌊25.68⌋ = 25 of the 0.01-core, ×1.05
    # histogram; p90 is that bucket's END = 0.01 × (1.05²⁶ − 1) / 0.05 = 0.51113 core; × 1.15 = 587.80m → 588m.
    # Memory: 14 daily peaks of 1 GiB, bucket ⌊ln(2³⁰ × 0.05 / 10⁷ + 1) / ln 1.05⌋ = ⌊37.95⌋ = 37; its end is
    # 10⁷ × (1.05³⁸ − 1) / 0.05 = 1,077,095,458 B; × 1.15 = 1,238,659,776.7 → 1,238,659,777 B.
    # The 2-core request is above the upper bound (p95 × 1.15 × (1 + 1/14) ≈ 630m): the updater applies it.
    target = Resources(588, 1_238_659_777)
    assert Vpa(guaranteed=True)(flat_learn()) == ResourceSpec(target, target)
    # Burstable: the start's limit/request ratios are kept: memory 4Gi/4Gi = 1, CPU has no limit.
    assert Vpa(guaranteed=False)(flat_learn()) == ResourceSpec(target, Resources(None, 1_238_659_777))


def test_attune_by_hand():
    # CPU: max(p95, hourly p95s) = 0.5 × margin 1.2 = 0.6; no burst (max = p95); confidence:
    # min(13.99 days, √(4032 / 24) = 12.96) / 7 → clamped to 1, factor (1 + 1/1)² = 4 → 2.4 cores; under the
    # 4-core bound; the change filter: 2000m → 2400m is a 20% change (≥ 10%, ≤ 50%): 2400m.
    # Memory: p99 1Gi × 1.3 × 4 = 5.2Gi, under the 8Gi bound but clamped to the 4Gi limit: stays 4Gi.
    assert AttuneDefault()(flat_learn()) == ResourceSpec(Resources(2400, 4 * GI), Resources(None, 4 * GI))


def test_resource_advisor_weekly_by_hand():
    # The preset through the engine: targets p95 × 1.3 = 650m and 1331.2Mi, but ±25% a run: 2000m × 0.75 =
    # 1500m and 4096Mi × 0.75 = 3072Mi; 14 days of data meet its 14-day coverage gate (4,032 × 5 min = 14 d).
    spec = Preset("resource-advisor")(flat_learn())
    assert (spec.requests.cpu, spec.requests.memory) == (1500, 3072 * MI)


# --- the benchmark on a directory of traces in the same format ----------------------------------

HEADER = ("Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\t"
          "Memory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\t"
          "Disk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]")


def write_trace(path: Path, mem_kb) -> None:
    """29 days of 5-minute rows: 2 cores of 2,000 MHz using 1,000 MHz (0.5 core), 4 GiB provisioned."""
    rows = [HEADER]
    for i in range(29 * 288):
        rows.append(";\t".join(str(x) for x in (1_375_308_000 + 300 * i, 2, 4000.0, 1000.0, 25.0, 4 * 2**20, mem_kb(i), 0, 0, 0, 0)))
    path.write_text("\n".join(rows) + "\n")


def test_quality_on_another_directory(tmp_path, capsys):
    # VM 1: flat 1 GiB. VM 2: the same, but 3 GiB for one hour (12 samples) on day 22, in the test week.
    write_trace(tmp_path / "1.csv", lambda i: 2**20)
    write_trace(tmp_path / "2.csv", lambda i: 3 * 2**20 if 22 * 288 <= i < 22 * 288 + 12 else 2**20)
    series, skipped = load_all(tmp_path)
    assert [s.vm for s in series] == ["1", "2"] and not skipped
    results = quality.run(series, [Preset("balanced"), KrrSimple()])
    one_shot = {(r.estimator, r.half): r.metrics for r in results if r.protocol == "one-shot"}
    # KRR's memory limit is 1 GiB × 1.15: VM 2's one-hour 3 GiB spike is one OOM episode in one series.
    assert (one_shot[("krr-simple", "all")]["oom_series"], one_shot[("krr-simple", "all")]["oom_episodes"]) == (1, 1)
    # balanced's memory limit shrinks at most 5% from 4 GiB in one run (3.8 GiB > 3 GiB): no OOM.
    assert one_shot[("balanced", "all")]["oom_series"] == 0
    # CPU is flat at 0.5 core and KRR requests p95 = 500m: no sample and no CPU time above the request.
    assert one_shot[("krr-simple", "all")]["cpu_over_samples_pct"] == 0 == one_shot[("krr-simple", "all")]["cpu_over_time_pct"]
    # The command prints all three protocols, OOM series and episodes, for any directory.
    assert bench_main(["quality", "--traces", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("one-shot", "weekly rolling", "steady state", "OOM series", "OOM episodes", "2 series from"):
        assert text in out


def test_quality_rejects_a_missing_directory(tmp_path, capsys):
    assert bench_main(["quality", "--traces", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]


def test_quality_names_the_bad_line(tmp_path, capsys):
    write_trace(tmp_path / "1.csv", lambda i: 2**20)
    bad = tmp_path / "2.csv"
    write_trace(bad, lambda i: 2**20)
    lines = bad.read_text().splitlines()
    lines[3] = lines[3].replace(";\t1000.0;", ";\tlots;", 1)  # row 3 of data = line 4 of the file
    bad.write_text("\n".join(lines) + "\n")
    assert bench_main(["quality", "--traces", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tests.bench: error: {bad}:4: CPU usage [MHZ]: not a number: 'lots'"]


def test_scale_pipeline_small(tmp_path):
    snap = scale.generate(tmp_path, 40)
    out = scale.measure(snap, tmp_path / "repo", max_changes=10)
    assert out["containers"] == 40 and out["selected"] == 10
    assert out["edits"] > 0 and out["unmapped"] == 0  # every selected change found its file and was patched


def test_query_strategies_small():
    from tests.bench import queries
    from tests.fixtures.prometheus.server import require_prometheus

    require_prometheus()
    table = queries.main(rows=((10, 2),))
    # ours: one instant query per signal (9 usage: the CPU max in two halves, the policy's CPU and memory p95,
    # memory max, coverage, restarts, OOM kills, throttling; 6 of the cluster's shape + 2 for LimitRanges and
    # quotas), 1 series lookup for the owners, 1 look for kube-state-metrics, 5 probes (containers, 2 recording
    # rules, scrape interval, dialect): 24; per container: 3 queries × 10 containers; the floor: one raw pass
    # per usage metric
    assert "| 10 × 2 h | " in table and "(24 queries)" in table and "(30)" in table and "(2)" in table
