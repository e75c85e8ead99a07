"""A real usage trace (Bitbrains GWA-T-12, ../shared/traces) served by a real Prometheus: the memory
percentiles the source computes equal an independent computation over the same samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sources.prometheus import PrometheusClient, PrometheusConfig, Scope, probe_method, usage_queries
from tests.fixtures.prometheus.server import build_tsdb, require_prometheus, running_prometheus
from tests.sources import cluster_data as cd

TRACE = Path(__file__).resolve().parents[3] / "shared" / "traces" / "bitbrains-rnd" / "rnd" / "2013-8" / "10.csv"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"


def load_memory(path: Path, days: float = 2.0) -> list[tuple[int, float]]:
    """(timestamp, bytes) of the first `days` of a trace; duplicate timestamps keep the first row."""
    rows: dict[int, float] = {}
    for line in path.read_text().splitlines()[1:]:
        fields = [f.strip() for f in line.split(";")]
        ts, mem_kb = int(float(fields[0])), float(fields[6])
        rows.setdefault(ts, mem_kb * 1024)
    start = min(rows)
    return sorted((t, v) for t, v in rows.items() if t < start + days * 86400)


def test_trace_memory_percentiles(tmp_path):
    if not TRACE.is_file():
        pytest.skip(f"the shared traces are not here ({TRACE}): this test reads ../shared/traces")
    require_prometheus()
    samples = load_memory(TRACE)
    shift = cd.END - samples[-1][0]  # move the trace so it ends at END (values and spacing unchanged)
    samples = [(t + shift, v) for t, v in samples]
    lbl = cd.labels(namespace="bank", pod="vm10-0", container="vm", image="img")
    text = "# TYPE container_memory_working_set_bytes gauge\n" + "".join(
        f"container_memory_working_set_bytes{lbl} {v} {t}\n" for t, v in samples) + "# EOF\n"
    with running_prometheus(build_tsdb(text, CACHE)) as url:
        client = PrometheusClient(PrometheusConfig(url))
        scope = Scope("2d", "5m")
        queries = usage_queries(scope, probe_method(client, scope, cd.END))
        got = {q: float(client.query(queries[f"memory.{q}"], cd.END)[0]["value"][1]) for q in ("p50", "p95", "p99")}
    # Independently: at each 5-minute step of the window, the latest sample not older than the 5m lookback.
    ts = [t for t, _ in samples]
    import bisect
    values_strict, values_incl = [], []
    for t in range(cd.END - 2 * 86400 + 300, cd.END + 1, 300):
        i = bisect.bisect_right(ts, t) - 1
        if i >= 0 and t - ts[i] < 300:
            values_strict.append(samples[i][1])
        if i >= 0 and t - ts[i] <= 300:
            values_incl.append(samples[i][1])
    for q, phi in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        # Whether a sample exactly 5m old still counts depends on the Prometheus version: accept either rule.
        assert got[q] in (pytest.approx(cd.quantile(values_strict, phi), rel=1e-9), pytest.approx(cd.quantile(values_incl, phi), rel=1e-9)), q
