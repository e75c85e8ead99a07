"""Prometheus queries for verification: when did the new values run, and how healthy was the
container before and after (issue 14). Every label value goes through ``bot.sources.promql``.

A workload's pods are found by name, the way their controllers name them (Deployment:
``<name>-<replicaset hash>-<suffix>``, StatefulSet: ``<name>-<ordinal>``, others ``<name>-<suffix>``),
so no join with kube_pod_owner is needed; the regex is anchored (PromQL regexes always are).
The number of queries grows with the number of changed containers (about 15 each), which a
merged PR caps at ``selection.maxChanges``.
"""

from __future__ import annotations

import re
from typing import Any

from bot.engine.verify import ChangeRecord, Health, Observation, Settings, windows
from bot.sources.promql import matchers, quote

_POD_PATTERN = {
    "Deployment": r"{name}-[a-z0-9]{{1,10}}-[a-z0-9]{{1,5}}",
    "StatefulSet": r"{name}-[0-9]+",
}
_OTHER_PODS = r"{name}-[a-z0-9]{{1,10}}"
_METRIC_FOR = {"requests": "kube_pod_container_resource_requests", "limits": "kube_pod_container_resource_limits"}


def pod_regex(kind: str, workload: str) -> str:
    return _POD_PATTERN.get(kind, _OTHER_PODS).format(name=re.escape(workload))


def _sel(c: ChangeRecord, cluster: tuple[str, str] | None, cadvisor: bool = False, **more: str) -> str:
    equal = {"namespace": c.namespace, "container": c.container, **more}
    if cluster:
        equal[cluster[0]] = cluster[1]
    # pod=~"…": the workload name is regex-escaped, then quoted like any user value
    pods = f"pod=~{quote(pod_regex(c.kind, c.workload))}"
    return matchers(equal=equal, extra=(('image!=""',) if cadvisor else ()) + (pods,))


def _secs(seconds: float) -> str:
    return f"{max(60, int(seconds))}s"


def rollout_query(c: ChangeRecord, lookback: float, cluster: tuple[str, str] | None = None) -> str | None:
    """The earliest sample time, within ``lookback`` of the evaluation time, of a pod of this
    container carrying the new value (kube-state-metrics reports cores and bytes)."""
    probe = c.rollout_probe()
    if probe is None:
        return None
    kind, resource, value = probe
    number = repr(value / 1000) if resource == "cpu" else str(value)
    series = f"{_METRIC_FOR[kind]}{_sel(c, cluster, resource=resource)}"
    return f"min(min_over_time(timestamp({series} == {number})[{_secs(lookback)}:1m]))"


def health_queries(c: ChangeRecord, length: float, cluster: tuple[str, str] | None = None) -> dict[str, str]:
    """Signal → PromQL over the ``length`` seconds before the evaluation time."""
    r = f"[{_secs(length)}]"
    ksm, cadv = _sel(c, cluster), _sel(c, cluster, cadvisor=True)
    oom = _sel(c, cluster, reason="OOMKilled")
    restarts = f"kube_pod_container_status_restarts_total{ksm}"
    q = {
        # pods that restarted in the window and whose last termination was an OOM kill
        "oom_kills": (f"count(max by (pod) (max_over_time(kube_pod_container_status_last_terminated_reason{oom}{r}))"
                      f" and on (pod) (max by (pod) (max_over_time({restarts}{r}) - min_over_time({restarts}{r})) > 0))"),
        "restarts": f"sum(max_over_time({restarts}{r}) - min_over_time({restarts}{r}))",
        "throttling": (f"sum(increase(container_cpu_cfs_throttled_periods_total{cadv}{r}))"
                       f" / sum(increase(container_cpu_cfs_periods_total{cadv}{r}))"),
        # resets() counts every decrease: Ready going 1 → 0
        "ready_losses": f"sum(resets(kube_pod_container_status_ready{ksm}{r}))",
        "memory_peak": f"max(max_over_time(container_memory_working_set_bytes{cadv}{r}))",
        "cpu_peak": f"max(max_over_time(rate(container_cpu_usage_seconds_total{cadv}[5m])[{_secs(length)}:1m]))",
    }
    if c.kind == "Deployment":
        equal = {"namespace": c.namespace, "deployment": c.workload}
        if cluster:
            equal[cluster[0]] = cluster[1]
        q["unavailable"] = f"max(max_over_time(kube_deployment_status_replicas_unavailable{matchers(equal=equal)}{r}))"
    return q


def _scalar(result: list[dict[str, Any]]) -> float | None:
    for row in result:
        try:
            v = float(row["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if v == v:  # not NaN
            return v
    return None


def measure(client: Any, c: ChangeRecord, start: float, end: float, cluster: tuple[str, str] | None = None) -> Health:
    got = {name: _scalar(client.query(q, end)) for name, q in health_queries(c, end - start, cluster).items()}

    def count(name: str) -> int:
        return int(round(got.get(name) or 0))

    return Health(oom_kills=count("oom_kills"), restarts=count("restarts"), throttling=got.get("throttling"),
                  ready_losses=count("ready_losses"), unavailable=got.get("unavailable"),
                  memory_peak=got.get("memory_peak"), cpu_peak=got.get("cpu_peak"))


def observe(client: Any, c: ChangeRecord, merged_at: float, now: float, s: Settings,
            cluster: tuple[str, str] | None = None) -> Observation:
    """Rollout time and the two windows' health for one changed container."""
    q = rollout_query(c, now - merged_at, cluster)
    rollout = _scalar(client.query(q, now)) if q else merged_at
    if rollout is not None and rollout < merged_at:
        rollout = merged_at  # a pod already had the value (e.g. edited by hand): judge from the merge
    if rollout is None:
        return Observation(c, None)
    win = windows(merged_at, rollout, now, s)
    if win is None:
        return Observation(c, rollout)
    (b0, b1), (a0, a1) = win
    return Observation(c, rollout, measure(client, c, b0, b1, cluster), measure(client, c, a0, a1, cluster), int(b1 - b0))
