"""A small Prometheus HTTP API client (works with Thanos, Mimir, VictoriaMetrics) and the batched
usage queries: one query per signal for the whole cluster, never one per container."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests
import urllib3

from bot.duration import parse_duration
from bot.errors import RunError
from bot.sources.promql import label_name, matchers


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
    concurrency: int = 4  # queries in flight at once: a few, so one slow signal does not serialise the rest
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
        # Passed with every request, not set on the session: requests lets REQUESTS_CA_BUNDLE /
        # CURL_CA_BUNDLE override session.verify, but never an explicit per-request verify.
        self.verify: bool | str = False if cfg.insecure else (cfg.ca_file or True)
        if cfg.insecure:
            # urllib3 warns on every request; say it once, ourselves.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            self.progress(f"warning: TLS certificates of {self._where()} are not verified (--prometheus-insecure)")
        self.started = time.monotonic()
        self.queries = 0
        self._lock = threading.Lock()
        self._stopped = False

    def stop(self) -> None:
        """Another query failed: the collection is over, send nothing more."""
        self._stopped = True

    def _left(self) -> float:
        return self.cfg.budget - (time.monotonic() - self.started)

    def query(self, promql: str, at: float) -> list[dict[str, Any]]:
        """An instant query; the result vector. Retries 5xx and timeouts with backoff, within the budget."""
        body = self._call("/api/v1/query", {"query": promql, "time": f"{at:.3f}"})
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise SourceError(f"expected a vector result, got {data.get('resultType')}")
        return data.get("result") or []

    def accepts(self, promql: str, at: float) -> bool:
        """Whether the server evaluates this query at all (a dialect probe): a refusal is False, not an error."""
        try:
            self.query(promql, at)
        except TooBig:
            raise
        except SourceError as exc:
            if str(exc).startswith("Prometheus error:"):
                return False
            raise
        return True

    def series(self, match: tuple[str, ...], start: float, end: float) -> list[dict[str, str]]:
        """The label sets of series matching any of ``match`` in [start, end]: an index lookup, no samples read."""
        body = self._call("/api/v1/series", {"match[]": list(match), "start": f"{start:.3f}", "end": f"{end:.3f}"})
        return [m for m in body.get("data") or [] if isinstance(m, dict)]

    def label_values(self, label: str, match: tuple[str, ...], start: float, end: float) -> list[str]:
        """Values of ``label`` on series matching any of ``match`` in [start, end]: an index lookup, no samples read."""
        body = self._call(f"/api/v1/label/{label_name(label)}/values",
                          {"match[]": list(match), "start": f"{start:.3f}", "end": f"{end:.3f}"}, method="GET")
        return sorted(str(v) for v in body.get("data") or [])

    def _call(self, path: str, params: dict[str, Any], method: str = "POST",
              headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        url = self.cfg.url.rstrip("/") + path
        last = "no attempt"
        for attempt in range(self.cfg.retries + 1):
            if self._stopped:
                raise SourceError("collection stopped")
            if self._left() <= 0:
                raise SourceError(f"Prometheus collection ran out of its {self.cfg.budget:g}s budget ({last})")
            with self._lock:
                self.queries += 1
            timeout = min(self.cfg.timeout, max(1.0, self._left()))
            try:
                if method == "POST":
                    resp = self.session.post(url, data=params, timeout=timeout, verify=self.verify, headers=headers)
                else:
                    resp = self.session.get(url, params=params, timeout=timeout, verify=self.verify, headers=headers)
            except requests.exceptions.SSLError as exc:
                raise SourceError(_tls_failure(self._where(), exc)) from None
            except requests.Timeout:
                last = f"timed out after {self.cfg.timeout:g}s (--prometheus-timeout)"
            except requests.ConnectionError:
                last = f"cannot connect to {self._where()}"
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                last = f"the answer from {self._where()} was cut off ({type(exc).__name__})"
            except requests.RequestException as exc:
                # Anything else requests can raise is not worth retrying; one line, no traceback.
                raise SourceError(f"request to {self._where()} failed: {type(exc).__name__}") from None
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    return self._body(resp)
                refused = self._too_big(resp)
                if refused:
                    raise TooBig(refused)
                last = f"HTTP {resp.status_code} from {self._where()}"
            if attempt < self.cfg.retries:
                time.sleep(min(self.cfg.backoff * 2**attempt, max(0.0, self._left())))
        raise SourceError(f"Prometheus query failed: {last}")

    def _where(self) -> str:
        return safe_url(self.cfg.url)

    def _too_big(self, resp: requests.Response) -> str | None:
        """The server's words when it refused a query for its size (samples, series, bytes), else None."""
        if resp.status_code == 413:
            return "response too large (HTTP 413)"
        text = resp.text[:4000]
        if not any(p in text for p in TOO_BIG):
            return None
        try:
            text = str(resp.json().get("error") or text)  # the server's sentence, without the JSON around it
        except (ValueError, AttributeError):
            pass
        return " ".join(text.split())[:300]

    def _body(self, resp: requests.Response) -> dict[str, Any]:
        if resp.status_code in (401, 403):
            raise SourceError(f"Prometheus at {self._where()} refused the credentials (HTTP {resp.status_code})")
        refused = self._too_big(resp) if resp.status_code != 200 else None
        if refused:
            raise TooBig(refused)
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(f"Prometheus at {self._where()} did not answer JSON (HTTP {resp.status_code})") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            body = body if isinstance(body, dict) else {}
            raise SourceError(f"Prometheus error: {body.get('errorType', '?')}: {body.get('error', '?')}"[:500])
        if body.get("warnings"):
            # Thanos/Mimir say "partial response" here: a plan on half the data is worse than none.
            raise SourceError("Prometheus returned a partial result: " + "; ".join(map(str, body["warnings"]))[:500])
        return body


# How Prometheus, VictoriaMetrics, Thanos and Mimir word a refusal to answer a query this large.
TOO_BIG = (
    "too many samples",                 # Prometheus --query.max-samples
    "maxSamplesPerQuery", "maxSamplesPerSeries", "maxUniqueTimeseries", "maxSeries",  # VictoriaMetrics
    "matching timeseries exceeds",      # VictoriaMetrics' -search.maxSeries (/api/v1/series)
    "exceeded the maximum",             # Mimir / Cortex limits
    "response is too large", "response too large", "too many series", "max-fetched-",
)


class TooBig(SourceError):
    """The backend refused the query for its size: split it and ask again."""


def _tls_failure(where: str, exc: Exception) -> str:
    text = str(exc)
    for key in ("CERTIFICATE_VERIFY_FAILED", "self-signed certificate", "self signed certificate",
                "certificate has expired", "unable to get local issuer certificate", "ostname mismatch",
                "doesn't match"):
        if key in text:
            return (f"TLS certificate of {where} not accepted (certificate: {key.replace('_', ' ').lower()}): "
                    "give its CA with --prometheus-ca FILE")
    return f"TLS handshake with {where} failed (is it an https endpoint?): {' '.join(text.split())[:200]}"


def safe_url(url: str) -> str:
    """The URL's scheme, host and port: what errors may show (never a user, password or query string)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the Prometheus URL"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")


def check_url(url: str) -> str | None:
    """Why this --prometheus-url cannot be used, or None. Never repeats credentials it may hold."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unclosed [IPv6] host: the message would be Python's, not the user's
        return "is not a URL (a bracketed IPv6 host must be closed: http://[::1]:9090)"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must start with http:// or https:// (e.g. http://prometheus:9090)"
    if parts.username is not None or parts.password is not None:
        return (f"holds credentials: give {safe_url(url)} and put them in RIGHTSIZER_PROMETHEUS_USERNAME / "
                "RIGHTSIZER_PROMETHEUS_PASSWORD (the URL is printed in logs)")
    if not parts.hostname:
        return "has no host name"
    try:
        parts.port
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    return None


# --- the queries ---------------------------------------------------------------------

GROUP = "namespace, pod, container"
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
EVERY_PERCENTILE = tuple(f"{r}.{q}" for r in ("cpu", "memory") for q in QUANTILES)
CADVISOR = ('container!=""', 'container!="POD"', 'image!=""')
MEMORY = "container_memory_working_set_bytes"
CPU = "container_cpu_usage_seconds_total"
# kube-prometheus-stack's per-container CPU recording rules: stored rates, no rate() to evaluate.
CPU_RULES = (
    "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m",
    "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
)
MAX_STEP = 60  # seconds: the CPU max looks at the 5-minute rate every minute, not every `resolution`
WARMUP = "5m"  # a rate counts only once its series is this old: a full window, no 1-minute rates at its start


@dataclass(frozen=True)
class Scope:
    window: str
    resolution: str
    namespaces: tuple[str, ...] = ()
    cluster: tuple[str, str] | None = None
    pods: tuple[str, ...] = ()  # set only when a query too large for the server is split
    # Which percentiles to measure ("cpu.p95", …): each is a pass over the whole history, so only what the
    # policy reads (Policy.percentiles_used); every one of them when there is no policy to ask.
    percentiles: tuple[str, ...] = EVERY_PERCENTILE

    def selector(self, *fixed: str, namespaced: bool = True) -> str:
        equal = {self.cluster[0]: self.cluster[1]} if self.cluster else {}
        any_of = {"namespace": self.namespaces, "pod": self.pods} if namespaced else {}
        return matchers(equal=equal, any_of=any_of, extra=fixed)

    def narrowed(self, namespaces: tuple[str, ...] | None = None, pods: tuple[str, ...] = ()) -> "Scope":
        return replace(self, namespaces=self.namespaces if namespaces is None else namespaces, pods=pods)


@dataclass(frozen=True)
class Method:
    """How this backend is best asked, found by a few probes before the usage queries."""

    cpu_rule: str | None = None  # one of CPU_RULES when it covers every container, else None (rate() it is)
    scrape_interval: float | None = None  # seconds between cAdvisor samples; None: count subquery steps instead
    # VictoriaMetrics divides a rate by the time its samples span, so at a series' first samples the
    # "5-minute" rate is a 1-minute one (Prometheus divides by the whole 5 minutes: no inflation there).
    warmup: bool = False


CPU_MAX_EARLIER = "cpu.max (earlier half)"


def split_window(window: str, step: str) -> tuple[str, str | None]:
    """The window as a recent and an earlier part of about half each, the recent one whole steps (recent + earlier
    = window); no earlier part for a window of less than two steps."""
    total, unit = parse_duration(window), parse_duration(step)
    if total < 2 * unit:
        return window, None
    recent = total // 2 // unit * unit
    return f"{recent}s", f"{total - recent}s"


def max_step(resolution: str) -> str:
    step = parse_duration(resolution)
    return resolution if step <= MAX_STEP else f"{MAX_STEP}s"


def cpu_series(s: Scope, method: Method) -> str:
    """The stored series the CPU rate is computed from: cAdvisor's counter, or the recording rule."""
    return f"{CPU}{s.selector(*CADVISOR)}" if method.cpu_rule is None else f"{method.cpu_rule}{s.selector()}"


def memory_series(s: Scope) -> str:
    return f"{MEMORY}{s.selector(*CADVISOR)}"


def cpu_rate(s: Scope, method: Method) -> str:
    """The per-series 5-minute CPU rate; with ``method.warmup``, only once the series has WARMUP of history
    (the guard costs a set operation at every step: several times the rate itself, so only where needed)."""
    raw = cpu_series(s, method)
    if method.cpu_rule is None:
        value = f"rate({raw}[5m])"
    else:
        # a 5-minute mean of recorded irates is the 5-minute rate
        value = raw if method.cpu_rule.endswith("rate5m") else f"avg_over_time({raw}[5m])"
    return f"({value} and {raw} offset {WARMUP})" if method.warmup else value


def usage_queries(s: Scope, method: Method = Method()) -> dict[str, str]:
    """Signal name → PromQL instant query. The count is fixed: it does not depend on how many containers there are.

    Each statistic is computed per raw series and only then reduced ``max by`` the container's labels:
    an aggregation inside a subquery is evaluated again at every step, and was most of the cost.
    A percentile is the server's quantile_over_time over the [W:R] subquery, one query each and only those
    asked for: at a 14-day window each is a pass over the history, cheaper on the server than the whole
    range sent as JSON and sorted by the bot (docs/connecting.md, "What is queried")."""
    W, R = s.window, s.resolution
    cpu = cpu_rate(s, method)
    mem = memory_series(s)
    q: dict[str, str] = {}
    # Slowest first (they are sent in this order, a few at a time): the CPU rate at 1-minute steps, the percentiles.
    # The CPU maximum is asked for as two halves of the window (the larger of the two is the window's): the
    # longest query alone would otherwise hold one core while the rest of the collection has finished.
    step = max_step(R)
    recent, earlier = split_window(W, step)
    # A recorded 5-minute rate is read as stored (every evaluation, no step to choose); else the rate every minute.
    stored = method.cpu_rule is not None and method.cpu_rule.endswith("rate5m") and not method.warmup
    part = (lambda w: f"{cpu}[{w}]") if stored else (lambda w: f"{cpu}[{w}:{step}]")
    q["cpu.max"] = f"max by ({GROUP}) (max_over_time({part(recent)}))"
    if earlier:
        q[CPU_MAX_EARLIER] = f"max by ({GROUP}) (max_over_time({part(earlier)} offset {recent}))"
    for name in s.percentiles:
        resource, percentile = name.split(".")
        series = cpu if resource == "cpu" else mem
        q[name] = f"max by ({GROUP}) (quantile_over_time({QUANTILES[percentile]}, {series}[{W}:{R}]))"
    q["memory.max"] = f"max by ({GROUP}) (max_over_time({mem}[{W}]))"  # every stored sample
    if method.scrape_interval:
        q["coverage"] = f"max by ({GROUP}) (count_over_time({mem}[{W}]))"  # samples × the scrape interval
    else:
        q["coverage"] = f"max by ({GROUP}) (count_over_time({mem}[{W}:{R}]))"  # steps × the resolution
    cadv = s.selector(*CADVISOR)
    ksm = s.selector()
    q["restarts"] = f"max by ({GROUP}) (increase(kube_pod_container_status_restarts_total{ksm}[{W}]))"
    oom = s.selector('reason="OOMKilled"')
    q["oom"] = f"max by ({GROUP}) (max_over_time(kube_pod_container_status_last_terminated_reason{oom}[{W}]))"
    q["throttled"] = (
        f"sum by ({GROUP}) (increase(container_cpu_cfs_throttled_periods_total{cadv}[{W}]))"
        f" / sum by ({GROUP}) (increase(container_cpu_cfs_periods_total{cadv}[{W}]))"
    )
    return q


def probe_method(client: "PrometheusClient", s: Scope, at: float) -> Method:
    """Which CPU source covers every container, the cAdvisor scrape interval (median over series), and
    whether the backend speaks MetricsQL (VictoriaMetrics: rates need the warm-up guard)."""
    step = parse_duration(s.resolution)
    # The window's first two steps: a rule evaluated from the window's start has a sample in them (its first
    # evaluations need two counter samples and, in kube-prometheus-stack's rule, the pod's kube_pod_info).
    first_steps = at - parse_duration(s.window) + 2 * step
    containers = client.query(f"count(count by ({GROUP}) ({CPU}{s.selector(*CADVISOR)}))", at)
    want = float(containers[0]["value"][1]) if containers else 0.0
    rule = None
    for name in CPU_RULES:
        have = client.query(f"count({name}{s.selector()})", at)
        if want and have and float(have[0]["value"][1]) >= want and client.query(f"count(last_over_time({name}{s.selector()}[{s.resolution}]))", first_steps):
            rule = name
            break
    # Samples in the hour before the last one, for series that existed all along: a half-open hour on either
    # range semantics ([t-2h, t-1h) or (t-2h, t-1h]), so exactly 3600/interval samples whatever the alignment.
    mem = f"{MEMORY}{s.selector(*CADVISOR)}"
    per_hour = client.query(f"quantile(0.5, (count_over_time({mem}[2h]) - count_over_time({mem}[1h])) and {mem} offset 2h)", at)
    n = float(per_hour[0]["value"][1]) if per_hour else 0.0
    interval = 3600.0 / n if n >= 1 and parse_duration(s.window) >= 2 * 3600 else None
    metricsql = client.accepts("1 default 2", at)  # MetricsQL's `default` operator: a PromQL parse error elsewhere
    return Method(cpu_rule=rule, scrape_interval=interval, warmup=metricsql)


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
