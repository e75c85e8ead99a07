"""The percentiles the bot computes from range queries (bot/sources/quantiles.py) equal the server's own
`quantile_over_time` over the same subquery, container by container, on the real Prometheus fixture; the
step grid is the subquery's on both Prometheus and VictoriaMetrics; the rule and the planning by hand."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from bot.sources.prometheus import GROUP, QUANTILES, PrometheusClient, PrometheusConfig, Scope, cpu_rate, memory_series, probe_method
from bot.sources.quantiles import Grid, fetch_range, grid, jobs, merge, ordered, plan, quantile, reduce_matrix
from tests.fixtures.prometheus.server import build_tsdb, require_prometheus, running_prometheus
from tests.fixtures.prometheus.victoria import require_victoria_metrics, running_victoria_metrics
from tests.sources import cluster_data as cd

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"
SCOPE = Scope(window="2d", resolution="5m")


def test_quantile_by_hand():
    # sorted [1, 1, 3, 4, 5], n = 5: rank = φ·4, then lower·(1 − w) + upper·w
    values = ordered([3.0, 1.0, 4.0, 1.0, 5.0])
    assert values == [1.0, 1.0, 3.0, 4.0, 5.0]
    assert quantile(0.5, values) == 3.0  # rank 2: exactly the third value
    assert quantile(0.9, values) == pytest.approx(4.6, abs=1e-15)  # rank 3.6: 4·0.4 + 5·0.6
    assert quantile(0.95, values) == pytest.approx(4.8, abs=1e-15)  # rank 3.8: 4·0.2 + 5·0.8
    assert quantile(0.99, values) == pytest.approx(4.96, abs=1e-15)  # rank 3.96: 4·0.04 + 5·0.96
    assert quantile(0.99, [7.0]) == 7.0 and math.isnan(quantile(0.5, []))
    # Go sorts NaN first: [NaN, 1, 2], the median (rank 1) is 1 and the minimum NaN
    with_nan = ordered([2.0, math.nan, 1.0])
    assert math.isnan(with_nan[0]) and with_nan[1:] == [1.0, 2.0]
    assert quantile(0.5, with_nan) == 1.0 and math.isnan(quantile(0.0, with_nan))


def test_the_grid_is_the_subquery_steps():
    # [10m:5m] at a multiple of 5 minutes: END−600, END−300, END where the start is closed (Prometheus 2),
    # END−300 and END where it is open (VictoriaMetrics, Prometheus 3); 17 s later both hold END−300 and END.
    assert grid(cd.END, "10m", "5m", True) == Grid((cd.END - 600) * 1000, cd.END * 1000, 300_000)
    assert grid(cd.END, "10m", "5m", False).count == 2
    assert grid(cd.END + 17, "10m", "5m", True) == grid(cd.END + 17, "10m", "5m", False) == Grid(
        (cd.END - 300) * 1000, cd.END * 1000, 300_000)
    # 25 steps in requests of at most 10: steps 0–9, 10–19, 20–24
    g = Grid(0, 24 * 60_000, 60_000)
    assert g.count == 25 and g.chunks(10) == [(0, 540_000), (600_000, 1_140_000), (1_200_000, 1_440_000)]


def test_parts_hold_at_most_the_limit_and_cover_every_pod_once():
    s = Scope("1d", "5m")
    # 10 steps, at most 25 points a part: namespaces a (2 series: 20) and b (20) do not fit together, c (10)
    # not with b; d's three single-series pods (30) are grouped 2 + 1 inside it.
    per_pod = Counter({("a", "p1"): 1, ("a", "p2"): 1, ("b", "q1"): 2, ("c", "r1"): 1,
                       ("d", "s1"): 1, ("d", "s2"): 1, ("d", "s3"): 1})
    parts = plan(s, per_pod, 10, 25)
    assert sorted((p.namespaces, p.pods) for p in parts) == [
        (("a",), ()), (("b",), ()), (("c",), ()), (("d",), ("s1", "s2")), (("d",), ("s3",))]
    assert plan(s, Counter({("a", "p1"): 2}), 10, 25) == [s]  # everything fits: the scope as it is


@pytest.fixture(scope="module")
def prom():
    require_prometheus()
    with running_prometheus(build_tsdb(cd.openmetrics(cd.make_pods()), CACHE)) as url:
        yield url


def _server(client: PrometheusClient, expr: str) -> dict[tuple, dict[str, float]]:
    out: dict[tuple, dict[str, float]] = {}
    for name, phi in QUANTILES.items():
        q = f"max by ({GROUP}) (quantile_over_time({phi}, {expr}[{SCOPE.window}:{SCOPE.resolution}]))"
        for r in client.query(q, cd.END):
            out.setdefault(tuple(r["metric"].get(label, "") for label in GROUP.split(", ")), {})[name] = float(r["value"][1])
    return out


@pytest.mark.parametrize("limit", [250_000, 600])
def test_equal_to_the_servers_quantile_over_time_for_every_container(prom, limit):
    # 600 points a part with 577 steps: one series per part, so each pod is its own request (by pods).
    client = PrometheusClient(PrometheusConfig(prom))
    method = probe_method(client, SCOPE, cd.END)
    assert method.closed_start  # Prometheus 2.42: the step at exactly END − 2d is part of the subquery
    parts = jobs(client, SCOPE, method, cd.END, limit=limit)
    assert len(parts) == (2 if limit > 10_000 else 2 * 5)  # 5 pods with usage series, each a part
    rows = merge({name: fetch(part) for name, (fetch, part) in parts.items()}, cd.END)
    for metric, expr in (("cpu", cpu_rate(SCOPE, method)), ("memory", memory_series(SCOPE))):
        want = _server(client, expr)
        assert len(want) == 5
        for q in QUANTILES:
            got = {tuple(r["metric"][label] for label in GROUP.split(", ")): r["value"][1] for r in rows[f"{metric}.{q}"]}
            assert got.keys() == want.keys()
            for key, value in got.items():
                # the same points, sorted and interpolated the same way: equal to float precision
                assert value == pytest.approx(want[key][q], rel=1e-12, abs=1e-15), (metric, q, key)


def test_time_chunks_read_the_same_points(prom):
    client = PrometheusClient(PrometheusConfig(prom))
    g = grid(cd.END, SCOPE.window, SCOPE.resolution, True)
    expr = cpu_rate(SCOPE, probe_method(client, SCOPE, cd.END))
    assert fetch_range(client, expr, g, most=50) == fetch_range(client, expr, g)  # 12 requests of 50 steps vs 1
    assert reduce_matrix(fetch_range(client, expr, g, most=50)) == reduce_matrix(fetch_range(client, expr, g))


@pytest.mark.parametrize("backend", ["prometheus", "victoria-metrics"])
def test_the_range_reads_as_many_steps_as_the_servers_subquery(backend):
    # Series by series, the points of our range query are exactly as many as the server's own subquery
    # counts (count_over_time over [W:R]): the grid is the subquery's, at the open or closed start.
    # The window starts exactly on a step where data exists (2 h before END), so the two rules differ.
    text = cd.openmetrics(cd.make_pods())
    if backend == "prometheus":
        require_prometheus()
        server = running_prometheus(build_tsdb(text, CACHE))
    else:
        require_victoria_metrics()
        server = running_victoria_metrics(text)
    scope = Scope("2h", "5m")
    with server as url:
        client = PrometheusClient(PrometheusConfig(url))
        method = probe_method(client, scope, cd.END)
        assert method.closed_start == (backend == "prometheus")
        g = grid(cd.END, scope.window, scope.resolution, method.closed_start)
        assert g.count == (25 if method.closed_start else 24)
        expr = memory_series(scope)
        counted = {tuple(sorted(r["metric"].items())): float(r["value"][1])
                   for r in client.query(f"count_over_time({expr}[{scope.window}:{scope.resolution}])", cd.END)}
        got = {tuple((k, v) for k, v in key if k != "__name__"): len(v) for key, v in fetch_range(client, expr, g).items()}
    assert counted and got == counted


def test_a_server_that_will_not_list_the_series_still_gives_the_same_snapshot():
    # VictoriaMetrics with -search.maxSeries=3 refuses the series lookup ("the number of matching timeseries
    # exceeds 3"): the percentiles are then asked for a namespace at a time (shop's 4 series, the forged
    # namespace's 1: quiet has no usage series), and the snapshot is the one the same server gives without the limit.
    from bot.snapshot import snapshot_to_dict
    from bot.sources.collect import collect_snapshot

    require_victoria_metrics()
    text = cd.openmetrics(cd.make_pods())
    snaps, said = [], []
    for flags in ((), ("-search.maxSeries=3",)):
        with running_victoria_metrics(text, *flags) as url:
            snaps.append(collect_snapshot(PrometheusClient(PrometheusConfig(url)), SCOPE, at=cd.END, progress=said.append))
    assert snapshot_to_dict(snaps[1]) == snapshot_to_dict(snaps[0])
    assert any(m.startswith("memory.quantiles 1/") for m in said)  # split into parts only under the limit
