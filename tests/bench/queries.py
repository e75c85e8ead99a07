"""Prometheus collection at 100 and 1,000 containers against the real Prometheus fixture: our batched
queries (one per signal) side by side with a per-container strategy (seed 000 / KRR style: a p95 CPU,
a p95 memory and a restart query for each container, names spliced into the selector)."""

from __future__ import annotations

import time
from pathlib import Path

from bot.sources.collect import collect_snapshot
from bot.sources.prometheus import PrometheusClient, PrometheusConfig, Scope
from bot.sources.promql import matchers
from tests.fixtures.prometheus.server import build_tsdb, running_prometheus
from tests.sources import cluster_data as cd

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"


def per_container(client: PrometheusClient, pods, scope: Scope, at: float) -> None:
    for p in pods:
        sel = matchers(equal={"namespace": p.namespace, "pod": p.pod, "container": p.container})
        client.query(f"quantile_over_time(0.95, rate(container_cpu_usage_seconds_total{sel}[5m])[{scope.window}:{scope.resolution}])", at)
        client.query(f"quantile_over_time(0.95, container_memory_working_set_bytes{sel}[{scope.window}:{scope.resolution}])", at)
        client.query(f"increase(kube_pod_container_status_restarts_total{sel}[{scope.window}])", at)


def main(sizes=(100, 1000)) -> str:
    rows = ["| containers | strategy | queries | wall time |", "|---|---|---|---|"]
    for n in sizes:
        base = len(cd.make_pods())
        pods = cd.make_pods(extra_containers=n - base)
        for p in pods[base:]:
            p.alive = (cd.END - 2 * 3600 + 60, cd.END)
        with running_prometheus(build_tsdb(cd.openmetrics(pods), CACHE)) as url:
            scope = Scope("2h", "5m")
            for name, fn in (("batched (ours)", lambda c: collect_snapshot(c, scope, at=cd.END)),
                             ("per container", lambda c: per_container(c, pods, scope, cd.END))):
                client = PrometheusClient(PrometheusConfig(url, budget=3600))
                t0 = time.perf_counter()
                fn(client)
                rows.append(f"| {n:,} | {name} | {client.queries:,} | {time.perf_counter() - t0:.2f} s |")
    return "\n".join(rows) + "\n"
