"""Collection with a long history (the default 14-day window), on Prometheus and on VictoriaMetrics.

promtool cannot build 1,000 containers × 14 days in one call (it re-reads its input for every 2-hour block),
so the same synthetic cluster as tests/bench/queries.py is built one block at a time and compacted by a real
server (tests/fixtures/prometheus/long_tsdb.py); VictoriaMetrics imports any timestamps, so there the cluster
is streamed into a real server in batches of pods. Then ours, the per-container strategy and the floor are
timed as in tests/bench/queries.py (ours and the floor best of 2, per container once).

    python -m tests.bench queries-long [CONTAINERS [DAYS [BACKEND]]]   # default 1,000 × 14 prometheus
        # BACKEND: prometheus, prometheus-rule (also holding kube-prometheus-stack's recorded CPU rate,
        # tests/fixtures/prometheus/k8s_cpu_rules.yml, evaluated by promtool against the server), victoria-metrics, both
"""

from __future__ import annotations

import subprocess
import tempfile
from functools import partial
from pathlib import Path

import requests

from bot.sources.prometheus import Scope
from tests.bench.queries import CACHE, row, three_ways
from tests.fixtures.prometheus.long_tsdb import SERVE_FLAGS, build_long_tsdb, with_cpu_rule
from tests.fixtures.prometheus.server import free_port, running_prometheus, stop, wait_ready
from tests.fixtures.prometheus.victoria import exposition
from tests.sources import cluster_data as cd

BATCH = 25  # pods per import request: ~100 MB of text at 14 days


def cluster(n: int, days: int) -> tuple[list, list]:
    base = cd.make_pods()
    pods = cd.make_pods(extra_containers=n - len(base))
    for i, p in enumerate(pods[len(base):]):
        p.alive = (cd.END - days * 86400 + 60, cd.END)
        # an hourly level per pod (the generated hourly levels cover only the fixture's 2 days)
        p.cpu_fn = (lambda t, i=i: 0.001 + 0.009 * ((((t // 3600) * 2654435761 + i * 40503) % 1000) / 1000))
    return base, pods


def on_prometheus(n: int, days: int, label: str | None = None, cpu_rule: bool = False) -> str:
    """With ``cpu_rule``, the server also holds kube-prometheus-stack's recorded per-container CPU rate, as a
    cluster running the stack does: ours reads it (the per-container strategy, seed-style, rates cAdvisor's counter)."""
    _, pods = cluster(n, days)
    tsdb = build_long_tsdb(pods, days, CACHE, key=f"queries-long|{n}")
    if cpu_rule:
        tsdb = with_cpu_rule(tsdb, days)
    with running_prometheus(tsdb, *SERVE_FLAGS) as url:
        times, queries = three_ways(url, pods, Scope(f"{days}d", "5m"), repeat=2, timeout=1200)
    return row(label or f"{n:,} × {days} d, Prometheus{', recorded CPU rate' if cpu_rule else ''}", times, queries)


def on_victoria_metrics(n: int, days: int) -> str:
    base, pods = cluster(n, days)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(["victoria-metrics", f"-storageDataPath={Path(tmp) / 'data'}", f"-httpListenAddr=127.0.0.1:{port}",
                                 "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=ERROR"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(proc, url + "/health", "victoria-metrics")
            extra = pods[len(base):]
            for group in [base] + [extra[k:k + BATCH] for k in range(0, len(extra), BATCH)]:
                requests.post(url + "/api/v1/import/prometheus", data=exposition(cd.openmetrics(group)).encode(),
                              timeout=600).raise_for_status()
            requests.get(url + "/internal/force_flush", timeout=60).raise_for_status()
            times, queries = three_ways(url, pods, Scope(f"{days}d", "5m"), repeat=2, timeout=1200)
        finally:
            stop(proc)
    return row(f"{n:,} × {days} d, VictoriaMetrics", times, queries)


def main(n: int = 1000, days: int = 14, backend: str = "prometheus") -> str:
    recorded = partial(on_prometheus, cpu_rule=True)
    runs = {"prometheus": (on_prometheus,), "prometheus-rule": (recorded,), "victoria-metrics": (on_victoria_metrics,),
            "both": (on_prometheus, recorded, on_victoria_metrics)}[backend]
    return "".join(run(n, days) + "\n" for run in runs)
