"""`rightsizer snapshot`: measure the cluster (Prometheus + kube-state-metrics) and write a snapshot file.

Credentials come from the environment only, never from flags (flags end up in shell history and logs):
RIGHTSIZER_PROMETHEUS_TOKEN (bearer), RIGHTSIZER_PROMETHEUS_USERNAME / _PASSWORD (basic auth),
RIGHTSIZER_PROMETHEUS_HEADERS (one `Name: value` per line, e.g. `X-Scope-OrgID: tenant` for Mimir).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from pathlib import Path

from bot.commands.argtypes import positive_seconds
from bot.duration import DURATION_PATTERN, parse_duration
from bot.errors import InputError


def add_collection_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live collection")
    g.add_argument("--prometheus-url", metavar="URL", help="Prometheus-compatible base URL (Prometheus, Thanos, Mimir's /prometheus, VictoriaMetrics)")
    g.add_argument("--prometheus-header", action="append", default=[], metavar="NAME:VALUE", help="extra header (not for secrets: use RIGHTSIZER_PROMETHEUS_HEADERS)")
    g.add_argument("--prometheus-ca", metavar="FILE", help="CA bundle for Prometheus TLS")
    g.add_argument("--prometheus-insecure", action="store_true", help="skip Prometheus TLS verification (lab clusters only)")
    g.add_argument("--cluster-label", metavar="LABEL=VALUE", help="select one cluster on a central multi-cluster backend, e.g. cluster=home")
    g.add_argument("--window", metavar="DURATION", help="history to measure (default: the policy's window, else 14d)")
    g.add_argument("--resolution", metavar="DURATION", help="percentile subquery step (default: the policy's, else 5m)")
    g.add_argument("--kube-state-metrics", action="store_true", help="read nodes, pods and owners from kube-state-metrics series instead of the Kubernetes API")
    g.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for the Kubernetes API (default: in-cluster service account, else kube-state-metrics)")
    g.add_argument("--context", metavar="NAME", help="kubeconfig context")
    g.add_argument("--collection-budget", type=positive_seconds, metavar="SECONDS", help="give up (no snapshot, no PR) after this long (default: 300)")
    g.add_argument("--prometheus-timeout", type=positive_seconds, metavar="SECONDS", help="give up on one query after this long (default: 30; it is retried within the budget)")


# Flags that shape what is measured. With --snapshot nothing is measured, so they would be ignored
# without a word; connection flags (--prometheus-url, --kubeconfig…) may stay set, as action.yml passes them.
MEASUREMENT_FLAGS = (("--window", "window"), ("--resolution", "resolution"), ("--cluster-label", "cluster_label"),
                     ("--collection-budget", "collection_budget"), ("--at", "at"))


def refuse_measurement_flags_with_snapshot(args: argparse.Namespace) -> None:
    if not getattr(args, "snapshot", None):
        return
    for flag, dest in MEASUREMENT_FLAGS:
        if getattr(args, dest, None) is not None:
            raise InputError("<command line>", "only applies to live collection, and --snapshot reads a file "
                             "measured already (its window is its own): give one or the other", field=flag)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("snapshot", help="measure the cluster and write a snapshot file", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="FILE", required=True, help="where to write the snapshot (JSON)")
    p.add_argument("--namespaces", default="", metavar="NS[,NS…]", help="only these namespaces")
    p.add_argument("--at", metavar="RFC3339", help="measure the window ending at this time instead of now (reproducible snapshots)")
    p.add_argument("--policy", metavar="PATH", help="measure what this policy reads (its window, resolution and percentiles); "
                   "without it: 14d at 5m and every percentile (p50, p90, p95, p99), each a pass over the history")
    add_collection_arguments(p)
    p.set_defaults(run=run)


def _duration(value: str | None, default: str, flag: str) -> str:
    import re

    value = value or default
    if not re.fullmatch(DURATION_PATTERN, value):
        raise InputError("<command line>", f"{value!r} is not a duration like 14d or 5m", field=flag)
    if parse_duration(value) < 1:  # 0d measures nothing; a step under a second is none to Prometheus
        raise InputError("<command line>", f"{value!r} is shorter than a second; give a duration like 14d or 5m", field=flag)
    return value


def _headers(args: argparse.Namespace, env) -> dict[str, str]:
    out = {}
    lines = list(args.prometheus_header or []) + (env.get("RIGHTSIZER_PROMETHEUS_HEADERS", "") or "").splitlines()
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise InputError("<command line>", "a Prometheus header must look like `Name: value`", field="--prometheus-header")
        out[name.strip()] = value.strip()
    return out


def prometheus_config(args: argparse.Namespace, env) -> tuple[Any, tuple[str, str] | None]:
    """(PrometheusConfig, cluster label) from the collection flags; shared by `snapshot` and the
    verification of merged changes in `run`."""
    from bot.sources.prometheus import PrometheusConfig, check_url
    from bot.sources.promql import label_name

    problem = check_url(args.prometheus_url)
    if problem:
        raise InputError("<command line>", f"the Prometheus URL {problem}", field="--prometheus-url")
    ca = getattr(args, "prometheus_ca", None)
    if ca and not os.path.isfile(ca):
        raise InputError("<command line>", f"{ca}: no such CA bundle file", field="--prometheus-ca")
    cluster = None
    if getattr(args, "cluster_label", None):
        name, sep, value = args.cluster_label.partition("=")
        if not sep:
            raise InputError("<command line>", "use --cluster-label LABEL=VALUE", field="--cluster-label")
        try:
            label_name(name)
        except ValueError as exc:
            raise InputError("<command line>", str(exc), field="--cluster-label") from None
        cluster = (name, value)
    cfg = PrometheusConfig(
        url=args.prometheus_url,
        token=(env.get("RIGHTSIZER_PROMETHEUS_TOKEN") or "").strip() or None,
        username=env.get("RIGHTSIZER_PROMETHEUS_USERNAME") or None,
        password=env.get("RIGHTSIZER_PROMETHEUS_PASSWORD") or None,
        headers=_headers(args, env),
        ca_file=getattr(args, "prometheus_ca", None),
        insecure=bool(getattr(args, "prometheus_insecure", False)),
        budget=float(getattr(args, "collection_budget", 300.0) or 300.0),
        timeout=float(getattr(args, "prometheus_timeout", 30.0) or 30.0),
    )
    return cfg, cluster


def collect_from_args(args: argparse.Namespace, env=None, progress=None, policy=None):
    """A Snapshot measured live, from the collection flags (and credentials in the environment). With a
    policy: its window and resolution unless a flag says otherwise, and only the percentiles it reads."""
    from bot.sources.collect import collect_snapshot
    from bot.sources.prometheus import EVERY_PERCENTILE, PrometheusClient, Scope

    env = os.environ if env is None else env
    if not args.prometheus_url:
        raise InputError("<command line>", "live collection needs --prometheus-url", field="--prometheus-url")
    cfg, cluster = prometheus_config(args, env)
    scope = Scope(
        window=_duration(getattr(args, "window", None), policy.window if policy else "14d", "--window"),
        resolution=_duration(getattr(args, "resolution", None), policy.resolution if policy else "5m", "--resolution"),
        namespaces=tuple(n for n in (getattr(args, "namespaces", "") or "").split(",") if n),
        cluster=cluster,
        percentiles=EVERY_PERCENTILE if policy is None else percentiles_to_measure(policy),
    )
    cluster = None
    in_cluster = bool(env.get("KUBERNETES_SERVICE_HOST"))
    if not getattr(args, "kube_state_metrics", False) and (getattr(args, "kubeconfig", None) or in_cluster):
        from bot.sources.kubernetes import api_client, shape_from_api

        kubeconfig, context = getattr(args, "kubeconfig", None), getattr(args, "context", None)
        cluster = lambda: shape_from_api(api_client(kubeconfig, context))  # noqa: E731
    say = progress or (lambda m: print(f"rightsizer: {m}", file=sys.stderr))
    at = None
    if getattr(args, "at", None):
        from datetime import datetime

        try:
            at = datetime.fromisoformat(args.at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise InputError("<command line>", f"{args.at!r} is not an RFC 3339 time", field="--at") from None
    return collect_snapshot(PrometheusClient(cfg, progress=say), scope, at=at, progress=say, cluster=cluster)


def percentiles_to_measure(policy) -> tuple[str, ...]:
    """The policy's percentiles as signal names ("cpu.p95", …), in a fixed order."""
    from bot.sources.prometheus import QUANTILES

    used = policy.percentiles_used()
    return tuple(f"{resource}.{q}" for resource in ("cpu", "memory") for q in QUANTILES if q in used[resource])


def run(args: argparse.Namespace) -> int:
    from bot.snapshot import snapshot_to_dict

    policy = None
    if args.policy:
        from bot.policy import load_policy

        policy = load_policy(None, args.policy)
    snap = collect_from_args(args, policy=policy)
    Path(args.out).write_text(json.dumps(snapshot_to_dict(snap), indent=1) + "\n", encoding="utf-8")
    print(f"rightsizer: wrote {args.out}: {len(snap.nodes)} nodes, {len(snap.workloads)} workloads, "
          f"{sum(len(w.containers) for w in snap.workloads)} containers", file=sys.stderr)
    return 0
