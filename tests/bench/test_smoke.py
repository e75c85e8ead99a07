"""Small runs of every benchmark so they cannot rot (the full runs are `python -m tests.bench quality|scale`).
Expected facts about the traces come from ../shared/traces/README.md, not from our loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import quality, scale
from tests.bench.estimators import all_estimators
from tests.bench.traces import TRACES, load


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
    # README: 120.csv's memory is resized between 1.0 and 15.9 GiB (it starts at 15.9); the series'
    # provisioning is its first size
    s120 = load(trace("120"))
    assert 15.8 < s120.mem_capacity / 2**30 < 16.0
    # cores used = MHz used / (MHz provisioned / cores): never above the provisioned cores by much
    assert max(s10.cpu) <= s10.cores * 1.05


def test_every_estimator_on_one_trace():
    s = load(trace("10"))
    results = quality.run([s, s], all_estimators())  # one series per half
    names = {r.estimator for r in results}
    assert names == {"balanced", "resource-advisor", "krr-simple", "vpa", "attune"}
    for r in results:
        assert r.metrics["cpu_req_cores"] > 0 and r.metrics["mem_req_gib"] > 0, r
    assert "| balanced |" in quality.table(results)


def test_scale_pipeline_small(tmp_path):
    snap = scale.generate(tmp_path, 40)
    out = scale.measure(snap, tmp_path / "repo", max_changes=10)
    assert out["containers"] == 40 and out["selected"] == 10
    assert out["edits"] > 0 and out["unmapped"] == 0  # every selected change found its file and was patched


def test_query_strategies_small():
    from tests.bench import queries
    from tests.fixtures.prometheus.server import require_prometheus

    require_prometheus()
    table = queries.main(sizes=(10,))
    # ours: one query per signal (14 usage + 9 shape + 2 for LimitRanges and quotas = 25) whatever the size;
    # per container: 3 queries × 10 containers
    assert "| 10 | batched (ours) | 25 |" in table and "| 10 | per container | 30 |" in table
