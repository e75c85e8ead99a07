"""Prometheus collection at 100, 1,000 and 10,000 containers against the real Prometheus fixture, in one
run: our collection (a fixed set of queries, a few in flight), a per-container strategy (seed 000 / KRR
style: a p95 CPU, a p95 memory and a restart query for each container, names spliced into the
selector), and the floor: one raw pass over both usage metrics (`count_over_time`), which any
strategy has to read at least once."""

from __future__ import annotations

import time
from pathlib import Path

from bot.sources.collect import collect_snapshot
from bot.sources.prometheus import CADVISOR, CPU, MEMORY, PrometheusClient, PrometheusConfig, Scope
from bot.sources.promql import matchers
from tests.fixtures.prometheus.server import build_tsdb, running_prometheus
from tests.sources import cluster_data as cd

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"
HOURS = 2  # of data per extra container: promtool builds 10,000 containers in about a minute


def per_container(client: PrometheusClient, pods, scope: Scope, at: float) -> None:
    for p in pods:
        sel = matchers(equal={"namespace": p.namespace, "pod": p.pod, "container": p.container})
        client.query(f"quantile_over_time(0.95, rate(container_cpu_usage_seconds_total{sel}[5m])[{scope.window}:{scope.resolution}])", at)
        client.query(f"quantile_over_time(0.95, container_memory_working_set_bytes{sel}[{scope.window}:{scope.resolution}])", at)
        client.query(f"increase(kube_pod_container_status_restarts_total{sel}[{scope.window}])", at)


def floor(client: PrometheusClient, scope: Scope, at: float) -> None:
    for metric in (CPU, MEMORY):
        client.query(f"count_over_time({metric}{scope.selector(*CADVISOR)}[{scope.window}])", at)


def cluster(n: int):
    base = len(cd.make_pods())
    pods = cd.make_pods(extra_containers=n - base)
    for p in pods[base:]:
        p.alive = (cd.END - HOURS * 3600 + 60, cd.END)
    return pods


def main(sizes=(100, 1000, 10_000)) -> str:
    rows = ["| containers | ours | per container | floor (raw pass) | per container / ours | ours / floor |",
            "|---|---|---|---|---|---|"]
    for n in sizes:
        pods = cluster(n)
        with running_prometheus(build_tsdb(cd.openmetrics(pods), CACHE)) as url:
            scope = Scope(f"{HOURS}h", "5m")
            times, queries = {}, {}
            for name, fn in (("floor", lambda c: floor(c, scope, cd.END)),  # first: it also warms the page cache
                             ("ours", lambda c: collect_snapshot(c, scope, at=cd.END)),
                             ("per container", lambda c: per_container(c, pods, scope, cd.END))):
                client = PrometheusClient(PrometheusConfig(url, budget=3600, timeout=600))
                t0 = time.perf_counter()
                fn(client)
                times[name], queries[name] = time.perf_counter() - t0, client.queries
        rows.append(f"| {n:,} | {times['ours']:.2f} s ({queries['ours']} queries) | {times['per container']:.2f} s "
                    f"({queries['per container']:,}) | {times['floor']:.2f} s ({queries['floor']}) | "
                    f"{times['per container'] / times['ours']:.1f}× | {times['ours'] / times['floor']:.1f}× |")
    return "\n".join(rows) + "\n"
