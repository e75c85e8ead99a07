"""A small Prometheus HTTP API client (works with Thanos, Mimir, VictoriaMetrics) and the batched
usage queries: one query per signal for the whole cluster, never one per container."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import requests

from bot.errors import RunError
from bot.sources.promql import matchers


class SourceError(RunError):
    """The backend could not give a complete answer: no snapshot, no PR."""


@dataclass(frozen=True)
class PrometheusConfig:
    url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    budget: float = 300.0  # seconds for the whole collection
    cluster: tuple[str, str] | None = None  # (label, value) on a central multi-cluster backend


class PrometheusClient:
    def __init__(self, cfg: PrometheusConfig, progress: Callable[[str], None] | None = None,
                 session: requests.Session | None = None):
        self.cfg = cfg
        self.progress = progress or (lambda _msg: None)
        self.session = session or requests.Session()
        self.session.headers.update(dict(cfg.headers))
        if cfg.token:
            self.session.headers["Authorization"] = f"Bearer {cfg.token}"
        elif cfg.username:
            self.session.auth = (cfg.username, cfg.password or "")
        self.session.verify = False if cfg.insecure else (cfg.ca_file or True)
        self.started = time.monotonic()
        self.queries = 0

    def _left(self) -> float:
        return self.cfg.budget - (time.monotonic() - self.started)

    def query(self, promql: str, at: float) -> list[dict[str, Any]]:
        """An instant query; the result vector. Retries 5xx and timeouts with backoff, within the budget."""
        url = self.cfg.url.rstrip("/") + "/api/v1/query"
        last = "no attempt"
        for attempt in range(self.cfg.retries + 1):
            if self._left() <= 0:
                raise SourceError(f"Prometheus collection ran out of its {self.cfg.budget:g}s budget ({last})")
            try:
                self.queries += 1
                resp = self.session.post(url, data={"query": promql, "time": f"{at:.3f}"},
                                         timeout=min(self.cfg.timeout, max(1.0, self._left())))
            except requests.Timeout:
                last = f"timed out after {self.cfg.timeout:g}s"
            except requests.ConnectionError:
                last = f"cannot connect to {self._where()}"
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    return self._result(resp)
                last = f"HTTP {resp.status_code} from {self._where()}"
            if attempt < self.cfg.retries:
                time.sleep(min(self.cfg.backoff * 2**attempt, max(0.0, self._left())))
        raise SourceError(f"Prometheus query failed: {last}")

    def _where(self) -> str:
        # The URL without credentials someone may have put in it.
        from urllib.parse import urlsplit

        parts = urlsplit(self.cfg.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def _result(self, resp: requests.Response) -> list[dict[str, Any]]:
        if resp.status_code in (401, 403):
            raise SourceError(f"Prometheus at {self._where()} refused the credentials (HTTP {resp.status_code})")
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(f"Prometheus at {self._where()} did not answer JSON (HTTP {resp.status_code})") from None
        if body.get("status") != "success":
            raise SourceError(f"Prometheus error: {body.get('errorType', '?')}: {body.get('error', '?')}"[:500])
        if body.get("warnings"):
            # Thanos/Mimir say "partial response" here: a plan on half the data is worse than none.
            raise SourceError("Prometheus returned a partial result: " + "; ".join(map(str, body["warnings"]))[:500])
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise SourceError(f"expected a vector result, got {data.get('resultType')}")
        return data.get("result") or []


# --- the queries ---------------------------------------------------------------------

GROUP = "namespace, pod, container"
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Scope:
    window: str
    resolution: str
    namespaces: tuple[str, ...] = ()
    cluster: tuple[str, str] | None = None

    def selector(self, *fixed: str, namespaced: bool = True) -> str:
        equal = {self.cluster[0]: self.cluster[1]} if self.cluster else {}
        return matchers(equal=equal, any_of={"namespace": self.namespaces if namespaced else ()}, extra=fixed)


def usage_queries(s: Scope) -> dict[str, str]:
    """Signal name → PromQL. The count is fixed: it does not depend on how many containers there are."""
    cadv = s.selector('container!=""', 'container!="POD"', 'image!=""')
    cpu = f"sum by ({GROUP}) (rate(container_cpu_usage_seconds_total{cadv}[5m]))"
    mem = f"max by ({GROUP}) (container_memory_working_set_bytes{cadv})"
    q: dict[str, str] = {}
    for name, phi in QUANTILES.items():
        q[f"cpu.{name}"] = f"quantile_over_time({phi}, ({cpu})[{s.window}:{s.resolution}])"
        q[f"memory.{name}"] = f"quantile_over_time({phi}, ({mem})[{s.window}:{s.resolution}])"
    q["cpu.max"] = f"max_over_time(({cpu})[{s.window}:{s.resolution}])"
    q["memory.max"] = f"max_over_time(({mem})[{s.window}:{s.resolution}])"
    q["coverage"] = f"count_over_time(({mem})[{s.window}:{s.resolution}])"
    ksm = s.selector()
    q["restarts"] = f"max by ({GROUP}) (increase(kube_pod_container_status_restarts_total{ksm}[{s.window}]))"
    oom = s.selector('reason="OOMKilled"')
    q["oom"] = f"max by ({GROUP}) (max_over_time(kube_pod_container_status_last_terminated_reason{oom}[{s.window}]))"
    q["throttled"] = (
        f"sum by ({GROUP}) (increase(container_cpu_cfs_throttled_periods_total{cadv}[{s.window}]))"
        f" / sum by ({GROUP}) (increase(container_cpu_cfs_periods_total{cadv}[{s.window}]))"
    )
    return q


def guard_queries(s: Scope) -> dict[str, str]:
    """kube-state-metrics series for the cluster guards (LimitRanges and quotas)."""
    sel = s.selector()
    return {
        "limitranges": f"max by (namespace, limitrange, type, resource, constraint) (kube_limitrange{sel})",
        "resourcequotas": f"max by (namespace, resourcequota, resource, type) (kube_resourcequota{sel})",
    }


def cluster_queries(s: Scope) -> dict[str, str]:
    """kube-state-metrics series for the cluster's shape, when no API access is given."""
    sel = s.selector()
    nodes = s.selector(namespaced=False)
    return {
        "allocatable": f"max by (node, resource) (kube_node_status_allocatable{nodes})",
        "node_labels": f"kube_node_labels{nodes}",
        "pod_info": f"max by (namespace, pod, node) (kube_pod_info{sel})",
        "pod_owner": f"max by (namespace, pod, owner_kind, owner_name) (max_over_time(kube_pod_owner{sel}[{s.window}]))",
        "rs_owner": f"max by (namespace, replicaset, owner_kind, owner_name) (max_over_time(kube_replicaset_owner{sel}[{s.window}]))",
        "job_owner": f"max by (namespace, job_name, owner_kind, owner_name) (max_over_time(kube_job_owner{sel}[{s.window}]))",
        "requests": f"max by (namespace, pod, container, resource) (kube_pod_container_resource_requests{sel})",
        "limits": f"max by (namespace, pod, container, resource) (kube_pod_container_resource_limits{sel})",
        "workload_labels": (
            f"max by (namespace, deployment, statefulset, daemonset, label_helm_toolkit_fluxcd_io_name, label_helm_toolkit_fluxcd_io_namespace, "
            f"label_rightsizer_io_skip) "
            f"({{__name__=~\"kube_deployment_labels|kube_statefulset_labels|kube_daemonset_labels\"{',' + sel[1:-1] if sel != '{}' else ''}}})"
        ),
        **guard_queries(s),
    }
