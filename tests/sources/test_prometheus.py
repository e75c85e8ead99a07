"""The Prometheus source against a real Prometheus server (Debian's package) holding known series."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import requests

from bot.engine.plan import build_plan
from bot.policy import build_policy
from bot.snapshot import snapshot_from_dict, snapshot_to_dict
from bot.sources.collect import collect_snapshot
from bot.sources.prometheus import CPU_RULES, PrometheusClient, PrometheusConfig, Scope, SourceError, cluster_queries, usage_queries
from tests.fixtures.prometheus.server import build_tsdb, free_port, require_prometheus, running_prometheus
from tests.sources import cluster_data as cd

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"
SCOPE = Scope(window="2d", resolution="5m")


@pytest.fixture(scope="module")
def prom():
    require_prometheus()
    tsdb = build_tsdb(cd.openmetrics(cd.make_pods()), CACHE)
    with running_prometheus(tsdb) as url:
        yield url


@pytest.fixture(scope="module")
def snapshot(prom):
    return collect_snapshot(PrometheusClient(PrometheusConfig(prom)), SCOPE, at=cd.END)


def _container(snap, ns, name, container):
    w = next(w for w in snap.workloads if (w.namespace, w.name) == (ns, name))
    return w, next(c for c in w.containers if c.name == container)


def test_memory_percentiles_match_an_independent_computation(snapshot):
    # Memory is a gauge on whole minutes and the subquery steps are whole 5 minutes: each step reads one
    # exact sample, so the expected value is exact (up to float formatting in the JSON answer).
    pods = [p for p in cd.make_pods() if p.owner_name == "web-5d8f"]
    _, c = _container(snapshot, "shop", "web", "app")
    for name, phi in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        want = max(cd.quantile(cd.memory_steps(p), phi) for p in pods)  # the busiest replica
        assert c.usage.memory.at(name) == pytest.approx(want, rel=1e-9), name
    # The max reads every stored sample, not only the 5-minute steps: the daily peak between two steps counts.
    assert c.usage.memory.max == max(cd.memory_value(p, t) for p in pods for t in range(p.alive[0], p.alive[1] + 1, 60))
    assert c.usage.memory.max > max(max(cd.memory_steps(p)) for p in pods)  # …and the steps alone would miss it


def test_cpu_percentiles_within_the_rate_window_tolerance(snapshot):
    # CPU rates are constant within each hour; a 5m rate window straddles an hour change at most at one step
    # in twelve, and then lies between two adjacent hourly levels. The true percentile of the hourly levels
    # (each held for 12 steps) therefore moves by less than the largest gap between adjacent levels; bound it by 10%.
    pods = [p for p in cd.make_pods() if p.owner_name == "web-5d8f"]
    _, c = _container(snapshot, "shop", "web", "app")
    for name, phi in (("p50", 0.5), ("p95", 0.95)):
        want = max(cd.quantile([cd.cpu_level(p, t) for t in range(max(p.alive[0], cd.END - cd.WINDOW + 600), p.alive[1] + 1, 300)], phi) for p in pods)
        assert c.usage.cpu.at(name) == pytest.approx(want, rel=0.10), name


def test_pods_pool_into_their_workloads(snapshot):
    web, c = _container(snapshot, "shop", "web", "app")
    assert web.kind == "Deployment" and web.helm_release.name == "web"
    assert sorted(p.name for p in web.pods) == ["web-5d8f-a", "web-5d8f-b"]  # the replaced pod is history, not a replica
    assert c.resources.requests.cpu == 500 and c.resources.limits.memory == 1024 * cd.MI
    # coverage: the longest-lived pod was there the whole window: 576 steps of 5 minutes
    assert c.coverage_seconds == 576 * 300
    db, pg = _container(snapshot, "shop", "db", "postgres")
    assert db.kind == "StatefulSet" and pg.restarts == 2 and pg.resources.limits.cpu == 1000
    assert {n.name: n.allocatable.memory for n in snapshot.nodes} == {"n1": 16 * 2**30, "n2": 8 * 2**30}
    # kube-state-metrics flattens label keys (kubernetes.io/arch → kubernetes_io_arch): kept as it gives them
    assert snapshot.nodes[0].labels == {"kubernetes_io_arch": "amd64"}


def test_snapshot_is_valid_and_feeds_the_engine(snapshot):
    again = snapshot_from_dict(snapshot_to_dict(snapshot))
    assert again == snapshot
    # Two days of data: the default needs seven before changing anything, so this policy asks for one.
    policy = build_policy([("t.yaml", None, {"defaults": {"coverage": {"required": "1d"}}})], "t.yaml")
    plan = build_plan(snapshot, policy)
    decisions = {d.key: d for d in plan.decisions}
    # web requests 512Mi and its busiest replica peaks far lower: a memory downsize is proposed.
    web = decisions["shop/web/app"].recommendation
    assert web.proposed.requests.memory < web.current.requests.memory


def test_a_forged_label_value_is_left_out_of_the_snapshot_with_a_warning(prom):
    # The series of namespace 'evil"} or vector(1) #' exist (see below; pod x-1 of ReplicaSet x-9,
    # so Deployment x), but no API server makes such a name: the workload is left out (it would reach the PR's Markdown), the rest is collected.
    said = []
    snap = collect_snapshot(PrometheusClient(PrometheusConfig(prom)), SCOPE, at=cd.END, progress=said.append)
    assert {w.namespace for w in snap.workloads} == {p.namespace for p in cd.make_pods()} - {'evil"} or vector(1) #'}
    assert [m for m in said if m.startswith("warning: left out")] == [
        "warning: left out Deployment 'evil\"} or vector(1) #'/'x': not a Kubernetes name (a forged or relabelled series?)"]


def test_hostile_namespace_filter_cannot_widen_the_query(prom):
    # A filter value that would close the matcher and add `or vector(1)` in a naive query builder.
    hostile = Scope(window="2d", resolution="5m", namespaces=('shop"} or vector(1) #',))
    client = PrometheusClient(PrometheusConfig(prom))
    result = client.query(usage_queries(hostile)["memory.max"], cd.END)
    assert result == []  # nothing matches that literal namespace; no other namespace leaks in
    # and the real namespace with that exact odd name is found as data, not as syntax
    odd = Scope(window="2d", resolution="5m", namespaces=('evil"} or vector(1) #',))
    rows = client.query(usage_queries(odd)["memory.max"], cd.END)
    assert [r["metric"]["namespace"] for r in rows] == ['evil"} or vector(1) #']


class _LoggingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the real server and logs every request path; can answer 502 a set number of times."""

    def __init__(self, upstream: str, fail_first: int = 0, refuse: str | None = None):
        self.upstream, self.fail_left, self.log, self.queries = upstream, fail_first, [], []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.log.append(self.path)
                outer.queries.extend(urllib.parse.parse_qs(body.decode()).get("query", []))
                if refuse is not None and self.path.startswith(refuse):  # as VictoriaMetrics' -search.maxSeries does
                    data = b'{"status":"error","errorType":"422","error":"the number of matching timeseries exceeds 10"}'
                    self.send_response(422)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(502)
                    self.end_headers()
                    return
                req = urllib.request.Request(outer.upstream + self.path, data=body, headers={"Content-Type": self.headers["Content-Type"]})
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status, data = resp.status, resp.read()
                except urllib.error.HTTPError as err:  # a 4xx answer (a refused query) is passed on as it is
                    status, data = err.code, err.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def test_query_count_does_not_grow_with_containers(prom, tmp_path):
    # The small cluster narrowed to one namespace (2 workloads, 3 pod-containers) vs a second server with
    # 1,000 more containers, counted at a proxy. Besides one query per signal (every percentile: no policy
    # narrows them here; the three owner signals come from one series lookup instead), a look for
    # kube-state-metrics' node series and four probes: the container count, one look for each of the two CPU
    # recording rules (absent here), the scrape interval, the MetricsQL dialect.
    fixed = len(usage_queries(SCOPE)) + len(cluster_queries(SCOPE)) - 3 + 1 + 1 + 1 + len(CPU_RULES) + 1 + 1
    small = _LoggingProxy(prom)
    collect_snapshot(PrometheusClient(PrometheusConfig(small.url)), Scope("2d", "5m", namespaces=("shop",)), at=cd.END)
    small.shutdown()
    require_prometheus()
    big_pods = cd.make_pods(extra_containers=1000)
    for p in big_pods[5:]:
        p.alive = (cd.END - 2 * 3600 + 60, cd.END)  # two hours only: keeps promtool quick
    with running_prometheus(build_tsdb(cd.openmetrics(big_pods), CACHE)) as big_url:
        big = _LoggingProxy(big_url)
        snap = collect_snapshot(PrometheusClient(PrometheusConfig(big.url)), SCOPE, at=cd.END)
        big.shutdown()
    assert sum(len(w.containers) for w in snap.workloads) >= 1000
    assert len(small.log) == fixed
    assert len(big.log) == fixed
    assert big.log.count("/api/v1/series") == 1 and set(big.log) == {"/api/v1/query", "/api/v1/series"}


def test_owners_come_from_instant_queries_when_the_series_lookup_is_refused(prom, snapshot):
    # The owners of the window's pods normally come from one series lookup; a server that refuses to list that
    # many series gets the three instant queries instead, and the snapshot is the same.
    refusing = _LoggingProxy(prom, refuse="/api/v1/series")
    snap = collect_snapshot(PrometheusClient(PrometheusConfig(refusing.url)), SCOPE, at=cd.END)
    refusing.shutdown()
    assert refusing.log.count("/api/v1/series") == 1
    assert sum("max_over_time(kube_pod_owner" in q or "max_over_time(kube_replicaset_owner" in q
               or "max_over_time(kube_job_owner" in q for q in refusing.queries) == 3
    assert snapshot_to_dict(snap) == snapshot_to_dict(snapshot)


def test_only_the_percentiles_asked_for_are_queried(prom):
    # The presets read the p95 of each resource: one quantile query each instead of four, and the snapshot
    # holds exactly those (None for the percentiles nobody measured), the maximum always.
    asked = _LoggingProxy(prom)
    scope = Scope("2d", "5m", percentiles=("cpu.p95", "memory.p95"))
    snap = collect_snapshot(PrometheusClient(PrometheusConfig(asked.url)), scope, at=cd.END)
    asked.shutdown()
    full = collect_snapshot(PrometheusClient(PrometheusConfig(prom)), Scope("2d", "5m"), at=cd.END)
    assert len(asked.log) == len(usage_queries(scope)) + len(cluster_queries(scope)) - 3 + 1 + 1 + 1 + len(CPU_RULES) + 1 + 1
    assert len(usage_queries(SCOPE)) - len(usage_queries(scope)) == 6
    pairs = [(a, b) for wa, wb in zip(snap.workloads, full.workloads) for a, b in zip(wa.containers, wb.containers)]
    assert pairs and any(a.usage.cpu is not None for a, _ in pairs)
    for a, b in pairs:
        for r in ("cpu", "memory"):
            pa, pb = a.usage.get(r), b.usage.get(r)
            assert (pa is None) == (pb is None)
            if pa is not None:
                assert (pa.p50, pa.p90, pa.p99) == (None, None, None)
                assert (pa.p95, pa.max) == (pb.p95, pb.max)


def test_a_5xx_is_retried(prom):
    proxy = _LoggingProxy(prom, fail_first=2)
    client = PrometheusClient(PrometheusConfig(proxy.url, backoff=0.01))
    assert client.query("vector(1)", cd.END)[0]["value"][1] == "1"
    assert len(proxy.log) == 3
    proxy.shutdown()


def test_server_down_is_a_clear_error_without_a_snapshot():
    cfg = PrometheusConfig(f"http://user:secret@127.0.0.1:{free_port()}", retries=1, backoff=0.01, password="hunter2")
    with pytest.raises(SourceError) as exc:
        collect_snapshot(PrometheusClient(cfg), SCOPE, at=cd.END)
    assert "cannot connect to http://127.0.0.1" in str(exc.value)
    assert "secret" not in str(exc.value) and "hunter2" not in str(exc.value) and "hunter2" not in repr(cfg)


def test_slow_answer_times_out(prom):
    class Slow(http.server.ThreadingHTTPServer):
        pass

    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            time.sleep(2)
            self.send_response(200)
            self.end_headers()

    server = Slow(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = PrometheusConfig(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(SourceError, match="timed out after 0.3s"):
        PrometheusClient(cfg).query("vector(1)", cd.END)
    server.shutdown()


def test_partial_response_is_refused(prom):
    class Partial(http.server.ThreadingHTTPServer):
        pass

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = b'{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["partial response: store gateway down"]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = Partial(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with pytest.raises(SourceError, match="partial result"):
        PrometheusClient(PrometheusConfig(f"http://127.0.0.1:{server.server_address[1]}")).query("up", cd.END)
    server.shutdown()


def test_bearer_and_tenant_headers_are_sent(prom):
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            seen.update({"auth": self.headers.get("Authorization"), "tenant": self.headers.get("X-Scope-OrgID")})
            body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = PrometheusConfig(f"http://127.0.0.1:{server.server_address[1]}", token="t0k", headers={"X-Scope-OrgID": "home"})
    PrometheusClient(cfg).query("up", cd.END)
    server.shutdown()
    assert seen == {"auth": "Bearer t0k", "tenant": "home"} and "t0k" not in repr(cfg)


def test_snapshot_command_end_to_end(prom, tmp_path):
    import json
    import subprocess
    import sys
    out = tmp_path / "snap.json"
    env = {"PATH": "/usr/bin:/bin", "RIGHTSIZER_PROMETHEUS_TOKEN": "s3cret-token"}
    r = subprocess.run([sys.executable, "-m", "bot", "snapshot", "--prometheus-url", prom, "--window", "2d",
                        "--namespaces", "shop", "--out", str(out), "--kube-state-metrics"],
                       capture_output=True, text=True, env={**__import__("os").environ, **env})
    # collection "now" sees nothing in a window that ends in 2025: a clear error, exit 1, no file
    assert r.returncode == 1 and "no kube_node_status_allocatable series" in r.stderr and not out.exists()
    assert "s3cret-token" not in r.stderr + r.stdout
    r = subprocess.run([sys.executable, "-m", "bot", "snapshot", "--prometheus-url", prom, "--window", "2d",
                        "--namespaces", "shop", "--out", str(out), "--at", "2025-11-21T04:40:00Z"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert sorted(w["name"] for w in data["workloads"]) == ["db", "web"]  # the other namespace is filtered out
    assert "wrote" in r.stderr and "2 workloads" in r.stderr
    usage = data["workloads"][0]["containers"][0]["usage"]
    assert set(usage["cpu"]) == set(usage["memory"]) == {"p50", "p90", "p95", "p99", "max"}  # no policy: every one
    # With --policy: what it reads (p99 requests, limits that read no usage), nothing more.
    policy = tmp_path / "p99.yaml"
    policy.write_text("defaults:\n  cpu: {percentile: p99, limit: {mode: none}}\n  memory: {percentile: p99, limit: {mode: equal}}\n")
    r = subprocess.run([sys.executable, "-m", "bot", "snapshot", "--prometheus-url", prom, "--window", "2d", "--policy", str(policy),
                        "--namespaces", "shop", "--out", str(out), "--at", "2025-11-21T04:40:00Z"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    usage = json.loads(out.read_text())["workloads"][0]["containers"][0]["usage"]
    assert set(usage["cpu"]) == set(usage["memory"]) == {"p99", "max"}


def test_live_collection_measures_what_the_policy_reads(prom, tmp_path):
    # A repository policy with a 1-day window at 10-minute steps, reading the CPU p90 and the memory p99
    # (limits that read no usage): plan's live collection asks for exactly those two percentiles over that
    # window (the snapshot command does the same with --policy).
    import argparse

    from bot.commands.plan import load_input_snapshot

    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "rightsizer.yaml").write_text(
        "window: 1d\nresolution: 10m\ndefaults:\n  cpu: {percentile: p90, limit: {mode: none}}\n"
        "  memory: {percentile: p99, limit: {mode: equal}}\n")
    proxy = _LoggingProxy(prom)
    args = argparse.Namespace(snapshot=None, repo=str(tmp_path), policy=None, prometheus_url=proxy.url, namespaces="shop",
                              kube_state_metrics=True, at="2025-11-21T04:40:00Z", prometheus_header=[])
    snap = load_input_snapshot(args)
    proxy.shutdown()
    assert snap.window == "1d"
    quantiles = sorted(q for q in proxy.queries if "quantile_over_time" in q)
    assert len(quantiles) == 2
    assert quantiles[0].startswith("max by (namespace, pod, container) (quantile_over_time(0.9, rate(") and "[1d:10m]" in quantiles[0]
    assert "quantile_over_time(0.99, container_memory_working_set_bytes" in quantiles[1] and "[1d:10m]" in quantiles[1]
    assert all("[14d" not in q and "[2d" not in q for q in proxy.queries)
    _, web = _container(snap, "shop", "web", "app")
    assert web.usage.cpu.p90 is not None and web.usage.memory.p99 is not None
    assert (web.usage.cpu.p95, web.usage.memory.p95, web.usage.cpu.p50) == (None, None, None)


def test_snapshot_command_when_the_server_is_down(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "snap.json"
    r = subprocess.run([sys.executable, "-m", "bot", "snapshot", "--prometheus-url", f"http://127.0.0.1:{free_port()}",
                        "--out", str(out), "--collection-budget", "3"], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot connect" in r.stderr and "Traceback" not in r.stderr and not out.exists()


def test_a_container_without_usage_series_is_kept_not_guessed(snapshot):
    # quiet/idle exists in kube-state-metrics with requests, but cAdvisor has no series for it.
    idle, c = _container(snapshot, "quiet", "idle", "app")
    assert c.usage.cpu is None and c.usage.memory is None and c.coverage_seconds == 0
    assert c.resources.requests.cpu == 200 and c.resources.requests.memory == 256 * cd.MI
    policy = build_policy([("t.yaml", None, {"defaults": {"coverage": {"required": "1d"}}})], "t.yaml")
    d = next(d for d in build_plan(snapshot, policy).decisions if d.key == "quiet/idle/app")
    assert d.recommendation.proposed == d.recommendation.current
    assert d.status == "unchanged" and any("no cpu usage data" in s.text for s in d.recommendation.steps)


def test_server_gone_mid_collection_gives_no_snapshot(prom):
    # The proxy answers until the first usage query's answer arrives, then the "server" disappears (the proxy
    # stops listening).
    proxy = _LoggingProxy(prom)
    sent_before = []

    def progress(message):
        if message.endswith(" series") and not sent_before:
            sent_before.append(len(proxy.log))
            proxy.shutdown()
            proxy.server_close()

    client = PrometheusClient(PrometheusConfig(proxy.url, retries=2, backoff=0.01))
    with pytest.raises(SourceError, match="cannot connect"):
        collect_snapshot(client, SCOPE, at=cd.END, progress=progress)
    # Only the queries already in flight when it went (at most `concurrency` of them) reached it after that,
    # and nothing was sent after them.
    assert sent_before and sent_before[0] <= len(proxy.log) <= sent_before[0] + client.cfg.concurrency


def test_a_query_refused_for_its_size_is_split_and_the_snapshot_is_complete(snapshot):
    # The CPU max is a subquery at 1-minute steps, asked for each half of the window: over 1 day, 1,440 points
    # per pod-container held at once, 7,200 for the five. With --query.max-samples=3000 Prometheus refuses it
    # for the whole cluster, for the namespaces {quiet, shop} and for shop alone (4 pods: 5,760), and answers
    # for two pods at a time (2,880). The percentiles' 5-minute subqueries (577 points each, 2,885 for all
    # five) are answered whole.
    require_prometheus()
    said = []
    with running_prometheus(build_tsdb(cd.openmetrics(cd.make_pods()), CACHE), "--query.max-samples=3000") as url:
        client = PrometheusClient(PrometheusConfig(url))
        with pytest.raises(SourceError, match="too many samples"):
            client.query(usage_queries(SCOPE)["cpu.max"], cd.END)
        split = collect_snapshot(client, SCOPE, at=cd.END, progress=said.append)
    assert any(m.startswith("cpu.max: too large for the server (query processing would load too many samples")
               and m.endswith("split into 2 parts by namespace") for m in said)
    assert any(m.startswith("cpu.max: too large") and m.endswith("split into 2 parts by pod") for m in said)
    assert snapshot_to_dict(split) == snapshot_to_dict(snapshot)  # the same snapshot as with no limit
