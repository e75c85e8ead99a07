"""Prometheus collection at 100, 1,000 and 10,000 containers against the real Prometheus fixture, in one
run: our collection (a fixed set of instant queries, a few in flight, measuring what `rightsizer run`
measures for the default policy: its percentiles are the CPU and memory p95, as the per-container
strategy's), a per-container strategy (seed 000 / KRR style: a p95 CPU, a p95 memory and a restart query for
each container, names spliced into the selector), and the floor: one raw pass over both usage metrics
(`count_over_time`), which any strategy has to read at least once.

Each row says its history: promtool re-reads its whole input for every 2-hour block, so one call
builds 24 hours of 1,000 containers (533 MB, 12 passes) in about a minute and a half, and 10,000
containers get 2 hours; 1,000 containers × 14 days (the default window) are built one block at a time
(tests/bench/queries_long.py, first run ~8 minutes, then cached)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from bot.commands.snapshot import percentiles_to_measure
from bot.policy import load_policy
from bot.sources.collect import collect_snapshot
from bot.sources.prometheus import CADVISOR, CPU, MEMORY, PrometheusClient, PrometheusConfig, Scope
from bot.sources.promql import matchers
from tests.fixtures.prometheus.rules import RULE, tsdb_with_cpu_rule
from tests.fixtures.prometheus.server import build_tsdb, running_prometheus
from tests.sources import cluster_data as cd

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"
HOURS = 2  # of data per extra container: promtool builds 10,000 containers in a few minutes
# containers, hours of history; 14 days are built one block at a time (tests/fixtures/prometheus/long_tsdb.py)
ROWS = ((100, 24), (1000, 24), (1000, 14 * 24), (10_000, HOURS))
REPEAT = 3


def per_container(client: PrometheusClient, pods, scope: Scope, at: float) -> None:
    for p in pods:
        sel = matchers(equal={"namespace": p.namespace, "pod": p.pod, "container": p.container})
        client.query(f"quantile_over_time(0.95, rate(container_cpu_usage_seconds_total{sel}[5m])[{scope.window}:{scope.resolution}])", at)
        client.query(f"quantile_over_time(0.95, container_memory_working_set_bytes{sel}[{scope.window}:{scope.resolution}])", at)
        client.query(f"increase(kube_pod_container_status_restarts_total{sel}[{scope.window}])", at)


def floor(client: PrometheusClient, scope: Scope, at: float) -> None:
    for metric in (CPU, MEMORY):
        client.query(f"count_over_time({metric}{scope.selector(*CADVISOR)}[{scope.window}])", at)


def cluster(n: int, hours: int = HOURS):
    base = len(cd.make_pods())
    pods = cd.make_pods(extra_containers=n - base)
    for p in pods[base:]:
        p.alive = (cd.END - hours * 3600 + 60, cd.END)
    return pods


def main(rows=ROWS, header: bool = True) -> str:
    out = ["| containers × history | ours | per container | floor (raw pass) | per container / ours | ours / floor |",
           "|---|---|---|---|---|---|"] if header else []
    for n, hours in rows:
        if hours > 48:
            from tests.bench import queries_long

            days = hours // 24
            out.append(queries_long.on_prometheus(n, days, label=f"{n:,} × {days} d"))
            out.append(queries_long.on_prometheus(n, days, label=f"{n:,} × {days} d, kube-prometheus-stack's recorded CPU rate",
                                                  cpu_rule=True))
            continue
        pods = cluster(n, hours)
        with running_prometheus(build_tsdb(cd.openmetrics(pods), CACHE)) as url:
            out.append(row(f"{n:,} × {hours} h", *three_ways(url, pods, Scope(f"{hours}h", "5m"))))
    return "\n".join(out) + "\n"


def three_ways(url: str, pods, scope: Scope, repeat: int = REPEAT, timeout: float = 600) -> tuple[dict, dict]:
    """Seconds and requests of the floor, ours and the per-container strategy against one server.
    Best of ``repeat`` for the two short ones: a 0.1-second run is at the mercy of whatever else the
    machine does; the per-container strategy's thousands of queries already average that out."""
    times: dict[str, float] = {}
    queries: dict[str, int] = {}
    ours = replace(scope, percentiles=percentiles_to_measure(load_policy(None, None)))  # what a run measures by default
    for name, fn, runs in (("floor", lambda c: floor(c, scope, cd.END), repeat),  # first: warms the page cache
                           ("ours", lambda c: collect_snapshot(c, ours, at=cd.END), repeat),
                           ("per container", lambda c: per_container(c, pods, scope, cd.END), 1)):
        for _ in range(runs):
            client = PrometheusClient(PrometheusConfig(url, budget=6 * timeout, timeout=timeout))
            t0 = time.perf_counter()
            fn(client)
            took = time.perf_counter() - t0
            times[name], queries[name] = min(took, times.get(name, took)), client.queries
    return times, queries


def row(label: str, times: dict, queries: dict) -> str:
    return (f"| {label} | {times['ours']:.2f} s ({queries['ours']} queries) | {times['per container']:.2f} s "
            f"({queries['per container']:,}) | {times['floor']:.2f} s ({queries['floor']}) | "
            f"{times['per container'] / times['ours']:.1f}× | {times['ours'] / times['floor']:.1f}× |")


def server_quantile(scope: Scope, expr: str, phi: float, group: bool = True) -> str:
    """A percentile as the server computes it: quantile_over_time over the [W:R] subquery (before the bot did)."""
    from bot.sources.prometheus import GROUP

    q = f"quantile_over_time({phi}, {expr}[{scope.window}:{scope.resolution}])"
    return f"max by ({GROUP}) ({q})" if group else q


def levers(n: int = 1000, hours: int = 24, repeat: int = 3) -> str:
    """Each lever of the query structure timed alone at n containers (best of `repeat`)."""
    from bot.sources.prometheus import CPU_MAX_EARLIER, EVERY_PERCENTILE, GROUP, Method, cpu_rate, memory_series, usage_queries

    pods = cluster(n, hours)
    scope = Scope(f"{hours}h", "5m")
    W, R = scope.window, scope.resolution
    cadv = scope.selector(*CADVISOR)
    old_cpu = f"sum by ({GROUP}) (rate({CPU}{cadv}[5m]))"
    old_mem = f"max by ({GROUP}) ({MEMORY}{cadv})"
    methods = Method(scrape_interval=60), Method(scrape_interval=60, warmup=True), Method(cpu_rule=RULE, scrape_interval=60)
    plain, guarded, ruled = (usage_queries(scope, m) for m in methods)
    cpu, cpu_guarded, cpu_ruled = (cpu_rate(scope, m) for m in methods)
    mem = memory_series(scope)
    pairs = [
        ("CPU p95: aggregate inside the subquery → per series, `max by` outside",
         server_quantile(scope, f"({old_cpu})", 0.95, group=False), server_quantile(scope, cpu, 0.95)),
        ("memory p95: the same change", server_quantile(scope, f"({old_mem})", 0.95, group=False), server_quantile(scope, mem, 0.95)),
        ("CPU max: 5m steps (26% low) → 1m steps (within 5%), as two halves of the window one after the other",
         f"max_over_time(({old_cpu})[{W}:{R}])", (plain["cpu.max"], plain[CPU_MAX_EARLIER])),
        ("CPU p95 on the server: rate() → the recording rule", server_quantile(scope, cpu, 0.95), server_quantile(scope, cpu_ruled, 0.95)),
        ("CPU max: rate() → the recording rule", (plain["cpu.max"], plain[CPU_MAX_EARLIER]), (ruled["cpu.max"], ruled[CPU_MAX_EARLIER])),
        ("CPU p95 on the server: no warm-up guard → guard (VictoriaMetrics only)",
         server_quantile(scope, cpu, 0.95), server_quantile(scope, cpu_guarded, 0.95)),
        ("coverage: count of 5m steps → count of samples", f"count_over_time(({old_mem})[{W}:{R}])", plain["coverage"]),
    ]
    rows = [f"| lever ({n:,} containers × {hours} h) | before | after |", "|---|---|---|"]
    with running_prometheus(tsdb_with_cpu_rule(build_tsdb(cd.openmetrics(pods), CACHE), cd.END - hours * 3600, cd.END)) as url:
        client = PrometheusClient(PrometheusConfig(url, budget=3600, timeout=600))

        def best(run) -> float:
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
            return min(times)

        def timed(q: str | tuple[str, ...]) -> float:
            return best(lambda: [client.query(one, cd.END) for one in ((q,) if isinstance(q, str) else q)])

        for what, before, after in pairs:
            rows.append(f"| {what} | {timed(before):.3f} s | {timed(after):.3f} s |")
        # The percentiles the policy reads (the presets: p95 of each) → every one of them (a snapshot without a policy).
        for label, percentiles in (("the presets' 2 (CPU and memory p95)", ("cpu.p95", "memory.p95")),
                                   ("all 8 (p50/p90/p95/p99 of each)", EVERY_PERCENTILE)):
            asked = usage_queries(replace(scope, percentiles=percentiles), methods[0])
            rows.append(f"| percentiles: {label}, one after the other | "
                        f"{best(lambda: [client.query(asked[p], cd.END) for p in percentiles]):.3f} s | |")
        run_scope = replace(scope, percentiles=percentiles_to_measure(load_policy(None, None)))
        for workers in (1, 4):
            t0 = time.perf_counter()
            collect_snapshot(PrometheusClient(PrometheusConfig(url, budget=3600, timeout=600, concurrency=workers)), run_scope, at=cd.END)
            rows.append(f"| whole collection (the default policy's percentiles), {workers} quer{'y' if workers == 1 else 'ies'} in flight | "
                        f"{time.perf_counter() - t0:.2f} s | |")
    return "\n".join(rows) + "\n"


def limits(n: int = 20_000) -> str:
    """n containers against Prometheus' default --query.max-samples (50 M) scaled to the data: every series
    here holds 2 hours, a real one 14 days (168× more samples per series, in raw ranges and subqueries
    alike), so the limit is 50 M / 168 — the same pressure as 14 days at the default."""
    pods = cluster(n)
    limit = int(50_000_000 * HOURS * 3600 / (14 * 86400))
    said: list[str] = []
    with running_prometheus(build_tsdb(cd.openmetrics(pods), CACHE), f"--query.max-samples={limit}") as url:
        client = PrometheusClient(PrometheusConfig(url, budget=3600, timeout=600))
        t0 = time.perf_counter()
        snap = collect_snapshot(client, Scope(f"{HOURS}h", "5m"), at=cd.END, progress=said.append)
        took = time.perf_counter() - t0
    splits = [m for m in said if "split into" in m]
    containers = sum(len(w.containers) for w in snap.workloads)
    return (f"{n:,} containers (every percentile: no policy narrows them), --query.max-samples={limit:,}: {containers:,} containers in the snapshot, "
            f"{took:.1f} s, {client.queries} requests, {len(splits)} splits "
            f"({', '.join(sorted({m.split(':')[0].split(' ')[0] for m in splits})) or 'none'})\n")
