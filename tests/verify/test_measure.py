"""bot.sources.verify against a real Prometheus: rollout time and the two windows' health.

Expected numbers come from rollout_data.py's construction, derived in the comments."""

from __future__ import annotations

import pytest

from bot.engine.verify import ChangeRecord, Settings, judge
from bot.model import Resources, ResourceSpec
from bot.sources import verify as sv
from bot.sources.prometheus import PrometheusClient, PrometheusConfig
from tests.verify import rollout_data as d

S = Settings()


def spec(pair) -> ResourceSpec:
    req, lim = pair

    def res(m):
        return Resources(round(m["cpu"] * 1000) if "cpu" in m else None, m.get("memory"))

    return ResourceSpec(res(req), res(lim))


def change(workload: str, new=None) -> ChangeRecord:
    # cache's PR asked for 128Mi; the cluster never got it (rollout_data.NEW keeps the old values)
    target = new or spec(d.NEW[workload])
    return ChangeRecord("shop", "Deployment", workload, "app", spec(d.OLD[workload]), target)


CACHE_NEW = ResourceSpec(Resources(100, 128 * d.MI), Resources())


@pytest.fixture(scope="module")
def client(prom_url):
    return PrometheusClient(PrometheusConfig(prom_url))


def test_oom_after_memory_cut_is_measured(client):
    obs = sv.observe(client, change("api"), d.MERGE, d.NOW, S)
    # The new pod's first sample (256Mi request) is at ROLLOUT, a whole minute: the 1m subquery step sees it there.
    assert obs.rollout_at == d.ROLLOUT
    # Windows: after = (ROLLOUT + 10m settle, NOW] = 24h − 10m − 10m = 85,200 s; before is as long,
    # ending 10m before ROLLOUT (the pod swap belongs to neither window).
    assert obs.window == 85_200
    # Before: the old pod never restarted and stayed Ready.
    assert (obs.before.oom_kills, obs.before.restarts, obs.before.ready_losses) == (0, 0, 0)
    # After: one pod whose last termination is OOMKilled and that restarted (1 pod), 2 restarts
    # (counter 0 → 2), Ready dropped to 0 for one sample at each OOM (2 decreases).
    assert (obs.after.oom_kills, obs.after.restarts, obs.after.ready_losses) == (1, 2, 2)
    assert obs.after.memory_peak == 290 * d.MI and obs.before.memory_peak == 200 * d.MI
    # The swap minute's unavailable replica lies inside the settle time: 0 in both windows.
    assert obs.before.unavailable == 0 and obs.after.unavailable == 0
    verdict = judge(obs, d.MERGE, d.NOW, S)
    assert verdict.status == "regressed"
    assert verdict.reasons == ("OOM kills: 0 before → 1 after",
                               "restarts: 0 before → 2 after (threshold 2)",
                               "lost Ready: 0 time(s) before → 2 after")


def test_throttling_after_cpu_cut_is_measured(client):
    obs = sv.observe(client, change("worker"), d.MERGE, d.NOW, S)
    # Both counters of a pod share sample times, so increase()'s extrapolation cancels in the ratio:
    # before 30/600 = 5 %, after 420/600 = 70 %.
    assert obs.before.throttling == pytest.approx(0.05, rel=1e-9)
    assert obs.after.throttling == pytest.approx(0.70, rel=1e-9)
    # CPU usage is a constant 0.09 cores: every 5m rate is 0.09.
    assert obs.after.cpu_peak == pytest.approx(0.09, rel=1e-6)
    verdict = judge(obs, d.MERGE, d.NOW, S)
    assert verdict.status == "regressed" and verdict.reasons == (
        "CPU throttling: 5% before → 70% after (threshold 50%)",)


def test_healthy_change_is_ok(client):
    obs = sv.observe(client, change("web"), d.MERGE, d.NOW, S)
    assert obs.rollout_at == d.ROLLOUT
    assert judge(obs, d.MERGE, d.NOW, S).status == "ok"


def test_change_never_rolled_out(client):
    obs = sv.observe(client, change("cache", CACHE_NEW), d.MERGE, d.NOW, S)
    # No pod ever reported a 128Mi request.
    assert obs.rollout_at is None
    verdict = judge(obs, d.MERGE, d.NOW, S)
    assert verdict.status == "not-rolled-out"
    assert "merged 1.0d ago but no pod ran with the new values: is Flux reconciling?" == verdict.reasons[0]


def test_too_early_is_pending(client):
    # 30 minutes after the merge: the rollout is 20 minutes old, less than settle + the 1h minimum.
    obs = sv.observe(client, change("api"), d.MERGE, d.MERGE + 1800, S)
    assert obs.rollout_at == d.ROLLOUT and obs.before is None
    assert judge(obs, d.MERGE, d.MERGE + 1800, S).status == "pending"


def test_hostile_names_stay_inside_their_matchers(client):
    # A workload and container name that would close the matcher and add `or vector(1)` if pasted raw.
    evil = ChangeRecord('shop"} or vector(1) #', "Deployment", 'api"} or vector(1)', 'app"}', spec(d.OLD["api"]),
                        spec(d.NEW["api"]))
    for q in (sv.rollout_query(evil, 86400), *sv.health_queries(evil, 3600).values()):
        assert client.query(q, d.NOW) == []  # parses, and matches nothing
