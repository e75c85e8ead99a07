"""The snapshot file: the documented input of the engine.

``load_snapshot`` validates a JSON or YAML file against
``policies/snapshot.schema.json`` and turns it into ``bot.model.Snapshot``;
``snapshot_to_dict`` writes one back (the live sources use it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from bot import quantity
from bot.duration import parse_duration
from bot.errors import InputError
from bot.model import (
    QUOTA_KEYS,
    Container,
    FluxRef,
    FluxStatus,
    HelmReleaseRef,
    LimitRange,
    LimitRangeItem,
    ResourceQuota,
    Rollout,
    Vpa,
    VpaContainer,
    Hpa,
    Node,
    PendingPod,
    Percentiles,
    Pod,
    Resources,
    ResourceSpec,
    Snapshot,
    Taint,
    Toleration,
    Usage,
    Workload,
)
from bot.schemas import error_message, is_valid, validator
from bot.safefs import PathRefused, read_regular
from bot.yamlio import MAX_YAML_BYTES, check_bounded, check_finite, field_name, line_of, parse_text, plain


MAX_JSON_BYTES = 256 * 1024 * 1024  # a snapshot of a large cluster, written by `rightsizer snapshot`
MAX_JSON_VALUES = 50_000_000
# Kubernetes' documented scalability limits (5,000 nodes, 150,000 pods): a bigger snapshot is not
# a cluster, and the node-fit simulation would run for minutes on it.
MAX_ITEMS = {"nodes": 5_000, "workloads": 150_000, "pendingPods": 150_000}
MAX_PODS = 150_000


def load_snapshot(path: Path | str, display: str | None = None) -> Snapshot:
    path = Path(path)
    display = display or str(path)
    try:
        raw = read_regular(path, MAX_JSON_BYTES)
    except PathRefused as exc:
        raise InputError(display, str(exc)) from None
    fast = _load_json(raw, display)  # bounded and finite, or an InputError
    if fast is not None and is_valid("snapshot", fast) and not _first_duplicate(fast):
        # Valid JSON (what `rightsizer snapshot` writes): skip the slow position-keeping YAML parse,
        # which is only needed to point at the line of an error.
        return _checked_build(fast, fast, display, finite=True)
    json_error = _json_syntax_error(path, raw, display)
    if json_error:
        raise json_error
    if len(raw) > MAX_YAML_BYTES:
        raise InputError(display, f"is {len(raw)} bytes: over {MAX_YAML_BYTES} bytes a snapshot must be valid JSON "
                                  "(as `rightsizer snapshot` writes it)" + (f"; {_first_error(fast)}" if fast is not None else ""))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(display, "is not UTF-8 text") from None
    docs = parse_text(text, display)
    if len(docs) != 1:
        raise InputError(display, f"must hold exactly one document, found {len(docs)}")
    return snapshot_from_dict(docs[0], display)


def _first_error(data: Any) -> str:
    errors = sorted(validator("snapshot").iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:  # valid, but an entry is listed twice
        err = _duplicate_error(data, "", *_first_duplicate(data))
        return f"{err.field}: {err.message}"
    return f"{field_name(list(errors[0].absolute_path))}: {error_message('snapshot', errors[0])[:200]}"


def _load_json(raw: bytes, display: str) -> Any:
    """The parsed JSON, or None when the file is not JSON (then it is read as YAML)."""
    import json

    if not raw.lstrip()[:1] == b"{":
        return None
    odd: list[str] = []  # NaN and ±Infinity literals, and numbers that overflow to ±inf (1e309)

    def constant(name: str) -> float:
        odd.append(name)
        return _CONSTANTS[name]

    def number(text: str) -> float:
        value = float(text)
        if value == _INF or value == -_INF:
            odd.append(text)
        return value

    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=constant, parse_float=number)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if (odd or _most_values(raw) > MAX_JSON_VALUES) and not _bounded_and_finite(data):
        # The same limits, walked again to name the field (JSON has no aliases: size and depth only). NaN and
        # ±infinity are refused before the schema: NaN passes minimum/maximum, -inf fails them oddly.
        check_bounded(data, display, max_nodes=MAX_JSON_VALUES)
        check_finite(data, data, display)
    return data


# Parsing notes every non-finite number (a NaN or ±Infinity literal, or one like 1e309 that overflows), and a
# text without more separators than MAX_JSON_VALUES cannot hold more values: only a file that may break either
# rule is walked value by value. Depth needs no walk here: the schema check that follows reads only what the
# schema describes, to a bounded depth, and the bot never reads the keys it does not describe.
_INF = float("inf")
_CONSTANTS = {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}


def _most_values(raw: bytes) -> int:
    """An upper bound of the values in a JSON text: each one after the first in an array or object follows
    a comma, and each array or object opens with a bracket (commas inside strings only raise the bound)."""
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def _bounded_and_finite(data: Any) -> bool:
    """One pass over parsed JSON: at most MAX_JSON_VALUES values, nested at most MAX_DEPTH deep, every float
    finite. A snapshot of 20,000 containers is half a million values: this is the walk that must be cheap."""
    from math import isfinite

    from bot.yamlio import MAX_DEPTH

    count, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if type(node) is float:
            if not isfinite(node):
                return False
        elif type(node) is dict or type(node) is list:
            if depth > MAX_DEPTH:
                return False
            stack.extend((child, depth + 1) for child in (node.values() if type(node) is dict else node))
    return count <= MAX_JSON_VALUES


def _checked_build(doc: Any, data: Any, display: str, finite: bool = False) -> Snapshot:
    """Checks the schema cannot express, then the model: finite numbers (unless already ``finite``), list sizes,
    a window longer than zero, quantities in range."""
    if not finite:
        check_finite(doc, data, display)
    for key, most in MAX_ITEMS.items():
        if len(data.get(key) or ()) > most:
            raise InputError(display, f"has {len(data[key])} {key}; at most {most} are read (Kubernetes' own limit)",
                             line=line_of(doc, [key]), field=key)
    pods = sum(len(w.get("pods") or ()) for w in data.get("workloads") or () if isinstance(w, dict))
    if pods > MAX_PODS:
        raise InputError(display, f"has {pods} pods; at most {MAX_PODS} are read (Kubernetes' own limit)", field="workloads")
    _check_usage_in_range(doc, data, display)
    try:
        if parse_duration(data["window"]) <= 0:
            raise ValueError(f"{data['window']!r} must be longer than zero")
    except ValueError as exc:
        raise InputError(display, str(exc), line=line_of(doc, ["window"]), field="window") from None
    try:
        return _build(data)
    except (quantity.QuantityError, ValueError, OverflowError) as exc:
        raise InputError(display, str(exc)) from None


def is_kubernetes_name(text: object) -> bool:
    """A name the API server could have given an object (the schema's ``$defs/name``): only these
    may reach the Markdown and HTML the bot writes."""
    import re

    rule = validator("snapshot").schema["$defs"]["name"]
    return isinstance(text, str) and len(text) <= rule["maxLength"] and re.match(rule["pattern"], text) is not None


# Usage beyond any real node is a broken exporter or a forged file; finite but huge numbers
# (1e308 cores) would overflow to infinity in the engine's arithmetic.
USAGE_MAX = {"cpu": quantity.MAX_CPU_MILLICORES / 1000, "memory": float(quantity.MAX_MEMORY_BYTES)}


def _check_usage_in_range(doc: Any, data: Mapping[str, Any], display: str) -> None:
    for i, w in enumerate(data.get("workloads") or ()):
        for j, c in enumerate(w.get("containers") or ()):
            usage = c.get("usage") or {}
            for resource, most in USAGE_MAX.items():
                series = [(k, v) for k, v in (usage.get(resource) or {}).items()]
                series += list(enumerate(usage.get(f"{resource}HourlyP95") or ()))
                for key, value in series:
                    if isinstance(value, (int, float)) and value > most:
                        where = ["workloads", i, "containers", j, "usage"]
                        where += [resource, key] if isinstance(key, str) else [f"{resource}HourlyP95", key]
                        unit = "cores" if resource == "cpu" else "bytes"
                        raise InputError(display, f"{value!r} {unit} is out of range (at most {most:g})",
                                         line=line_of(doc, where), field=field_name(where))


def _json_syntax_error(path: Path, raw: bytes, display: str) -> InputError | None:
    """A `.json` file that does not parse, as a JSON error. The YAML parser would read it too, but its
    message about a cut-off file (`rightsizer snapshot` killed mid-write) is about YAML and misleads."""
    import json

    if path.suffix.lower() != ".json":
        return None
    try:
        text = raw.decode("utf-8-sig")
        json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            return InputError(display, "is empty, not JSON")
        if text.lstrip()[:1] not in ("{", "["):
            return None  # YAML in a file named .json: read as YAML, as before
        # An unterminated string can only end at the end of the file: JSON strings hold no raw newline.
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        return InputError(display, f"is not valid JSON: {exc.msg} at column {exc.colno}"
                          + ("; the file ends before the JSON does (truncated?)" if cut else ""), line=exc.lineno)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None  # reported by the YAML reader below, as for every file
    return None


def snapshot_from_dict(doc: Any, display: str = "<snapshot>") -> Snapshot:
    check_bounded(doc, display)
    data = plain(doc)
    check_finite(doc, data, display)
    errors = [] if is_valid("snapshot", data) else sorted(validator("snapshot").iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = list(err.absolute_path)
        raise InputError(display, error_message("snapshot", err)[:300], line=line_of(doc, path), field=field_name(path))
    duplicate = _first_duplicate(data)
    if duplicate:
        raise _duplicate_error(doc, display, *duplicate)
    return _checked_build(doc, data, display)


def _first_duplicate(data: Mapping[str, Any]) -> tuple[list[Any], list[Any], str] | None:
    """The first entry that repeats an earlier one (its path, the earlier one's path, what they are), or None.

    The engine keys nodes by name, workloads by namespace, kind and name (a Deployment and a StatefulSet may
    share a name) and containers by name within their workload (Kubernetes requires it, init containers
    included): a repeat would make one entry overwrite the other, or fail deep in the engine.
    """
    def first_repeat(items: Any, key: Any, where: list[Any]) -> tuple[list[Any], list[Any], Any] | None:
        seen: dict[Any, int] = {}
        for i, item in enumerate(items or ()):
            k = key(item)
            if k in seen:
                return where + [i], where + [seen[k]], k
            seen[k] = i
        return None

    repeat = first_repeat(data.get("nodes"), lambda n: n.get("name"), ["nodes"])
    if repeat:
        return repeat[0], repeat[1], f"two nodes share a name: {repeat[2]!r} is"
    repeat = first_repeat(data.get("workloads"), lambda w: (w.get("namespace"), w.get("kind"), w.get("name")), ["workloads"])
    if repeat:
        ns, kind, name = repeat[2]
        return repeat[0], repeat[1], f"{kind} {ns}/{name} is"
    for i, w in enumerate(data.get("workloads") or ()):
        repeat = first_repeat(w.get("containers"), lambda c: c.get("name"), ["workloads", i, "containers"])
        if repeat:
            return repeat[0], repeat[1], f"container {repeat[2]!r} of {w.get('kind')} {w.get('namespace')}/{w.get('name')} is"
    return None


def _duplicate_error(doc: Any, display: str, path: list[Any], earlier: list[Any], what: str) -> InputError:
    def at(p: list[Any]) -> str:
        line = line_of(doc, p)  # None for a plain dict (a snapshot built in memory)
        return field_name(p) + (f" (line {line})" if line else "")

    return InputError(display, f"{what} listed twice, at {at(earlier)} and at {at(path)}: keep one",
                      line=line_of(doc, path), field=field_name(path))


def _resources(raw: Mapping[str, Any] | None) -> Resources:
    raw = raw or {}
    return Resources(
        cpu=quantity.parse_cpu(raw["cpu"]) if "cpu" in raw else None,
        memory=quantity.parse_memory(raw["memory"]) if "memory" in raw else None,
    )


def _percentiles(raw: Mapping[str, Any] | None) -> Percentiles | None:
    if not raw:
        return None
    return Percentiles(*(float(raw[k]) if k in raw else None for k in ("p50", "p90", "p95", "p99")), float(raw["max"]))


def _tolerations(raw: list[Mapping[str, Any]] | None) -> tuple[Toleration, ...]:
    return tuple(
        Toleration(t.get("key"), t.get("operator", "Equal"), t.get("value"), t.get("effect"))
        for t in raw or ()
    )


def _container(raw: Mapping[str, Any]) -> Container:
    usage = raw.get("usage") or {}
    return Container(
        name=raw["name"],
        init=bool(raw.get("init", False)),
        sidecar=bool(raw.get("sidecar", False)),
        resources=ResourceSpec(_resources(raw.get("requests")), _resources(raw.get("limits"))),
        usage=Usage(
            cpu=_percentiles(usage.get("cpu")),
            memory=_percentiles(usage.get("memory")),
            cpu_hourly_p95=tuple(usage["cpuHourlyP95"]) if usage.get("cpuHourlyP95") else None,
            memory_hourly_p95=tuple(usage["memoryHourlyP95"]) if usage.get("memoryHourlyP95") else None,
        ),
        coverage_seconds=float(raw.get("coverageSeconds", 0)),
        restarts=int(raw.get("restarts", 0)),
        oom_kills=int(raw.get("oomKills", 0)),
        cpu_throttled_ratio=raw.get("cpuThrottledRatio"),
    )


def _hpa(raw: Mapping[str, Any] | None) -> Hpa | None:
    if not raw:
        return None
    utilization = tuple(
        sorted(
            {
                m["resource"]
                for m in raw.get("metrics", [])
                if m.get("type") in ("Resource", "ContainerResource")
                and m.get("resource") in ("cpu", "memory")
                and m.get("targetType", "Utilization") == "Utilization"
            }
        )
    )
    return Hpa(
        name=raw.get("name", ""),
        min_replicas=int(raw.get("minReplicas", 1)),
        max_replicas=int(raw.get("maxReplicas", 1)),
        utilization_resources=utilization,
    )


def _rollout(raw: Mapping[str, Any] | None) -> Rollout | None:
    if not raw:
        return None
    return Rollout(int(raw["desired"]), int(raw["updated"]), int(raw["ready"]),
                   bool(raw.get("generationObserved", True)), bool(raw.get("revisionCurrent", True)))


def _limit_range(raw: Mapping[str, Any]) -> LimitRange:
    return limit_range(raw["namespace"], raw["name"], raw.get("limits") or ())


def limit_range(namespace: str, name: str, limits: Any) -> LimitRange:
    """A LimitRange from its ``spec.limits`` (quantity strings), as the API and the snapshot file write it."""
    return LimitRange(namespace, name, tuple(
        LimitRangeItem(
            type=item["type"],
            min=_resources(item.get("min")),
            max=_resources(item.get("max")),
            default=_resources(item.get("default")),
            default_request=_resources(item.get("defaultRequest")),
            # a ratio is a plain quantity ("3", "1.5", "1500m"): read as millis, then divided back
            max_ratio={r: quantity.parse_cpu(v) / 1000 for r, v in (item.get("maxLimitRequestRatio") or {}).items() if r in ("cpu", "memory")},
        )
        for item in limits
    ))


def quota_values(raw: Mapping[str, Any] | None) -> dict[str, int]:
    """A quota's hard or used map on QUOTA_KEYS: ``cpu``/``memory`` mean ``requests.*``; other keys are not sized here."""
    out: dict[str, int] = {}
    for key, value in (raw or {}).items():
        key = f"requests.{key}" if key in ("cpu", "memory") else key
        if key in QUOTA_KEYS:
            out[key] = quantity.parse(key.split(".")[1], value)
    return out


def _vpa(raw: Mapping[str, Any]) -> Vpa:
    return Vpa(
        raw["namespace"], raw["name"], raw["targetRef"]["kind"], raw["targetRef"]["name"], raw.get("updateMode", "Auto"),
        tuple(VpaContainer(c["name"], c.get("mode"), _resources(c.get("target"))) for c in raw.get("containers") or ()),
    )


def _workload(raw: Mapping[str, Any]) -> Workload:
    hr = raw.get("helmRelease")
    ks = raw.get("kustomization")
    return Workload(
        kind=raw["kind"],
        namespace=raw["namespace"],
        name=raw["name"],
        replicas=int(raw.get("replicas", len(raw.get("pods", [])) or 1)),
        containers=tuple(_container(c) for c in raw["containers"]),
        pods=tuple(Pod(p["name"], p.get("node"), p.get("phase", "Running")) for p in raw.get("pods", [])),
        helm_release=HelmReleaseRef(hr["name"], hr["namespace"]) if hr else None,
        hpa=_hpa(raw.get("hpa")),
        labels=dict(raw.get("labels") or {}),
        annotations=dict(raw.get("annotations") or {}),
        node_selector=dict(raw.get("nodeSelector") or {}),
        tolerations=_tolerations(raw.get("tolerations")),
        kustomization=FluxRef("Kustomization", ks["name"], ks["namespace"]) if ks else None,
        rollout=_rollout(raw.get("rollout")),
    )


def _build(data: Mapping[str, Any]) -> Snapshot:
    nodes = tuple(
        Node(
            name=n["name"],
            allocatable=_resources(n["allocatable"]),
            labels=dict(n.get("labels") or {}),
            taints=tuple(Taint(t["key"], t.get("value"), t["effect"]) for t in n.get("taints") or ()),
            unschedulable=bool(n.get("unschedulable", False)),
        )
        for n in data["nodes"]
    )
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ValueError("nodes: two nodes share a name")
    pending = tuple(
        PendingPod(
            namespace=p["namespace"],
            name=p["name"],
            requests=_resources(p.get("requests")),
            workload=p.get("workload"),
            node_selector=dict(p.get("nodeSelector") or {}),
            tolerations=_tolerations(p.get("tolerations")),
        )
        for p in data.get("pendingPods", [])
    )
    return Snapshot(
        version=data["version"],
        collected_at=data["collectedAt"],
        window=data["window"],
        window_seconds=parse_duration(data["window"]),
        nodes=nodes,
        workloads=tuple(_workload(w) for w in data["workloads"]),
        pending_pods=pending,
        cluster=data.get("cluster"),
        limit_ranges=tuple(_limit_range(lr) for lr in data.get("limitRanges") or ()),
        resource_quotas=tuple(ResourceQuota(q["namespace"], q["name"], quota_values(q.get("hard")), quota_values(q.get("used")))
                              for q in data.get("resourceQuotas") or ()),
        vpas=tuple(_vpa(v) for v in data.get("verticalPodAutoscalers") or ()),
        flux=tuple(FluxStatus(f["kind"], f["namespace"], f["name"], f["ready"], f.get("reason", ""), f.get("message", ""))
                   for f in data.get("fluxStatus") or ()),
    )


# --- writing ---------------------------------------------------------------

def _quantities(res: Resources) -> dict[str, str]:
    out: dict[str, str] = {}
    if res.cpu is not None:
        out["cpu"] = quantity.format_cpu(res.cpu)
    if res.memory is not None:
        out["memory"] = str(quantity.format_memory(res.memory, quantity.Style("")))
    return out


def unmeasured(snap: Snapshot, used: Mapping[str, frozenset[str]]) -> tuple[str, str] | None:
    """The first container with usage data that lacks a percentile in ``used`` (resource → names):
    ("namespace/workload container", "cpu p99"), or None when every one is there."""
    for w in snap.workloads:
        for c in w.containers:
            for resource, names in used.items():
                p = c.usage.get(resource)
                missing = [n for n in sorted(names) if p is not None and p.at(n) is None]
                if missing:
                    return f"{w.namespace}/{w.name} container {c.name}", f"{resource} {missing[0]}"
    return None


def _pct(p: Percentiles | None) -> dict[str, float] | None:
    if p is None:
        return None
    return {k: v for k, v in (("p50", p.p50), ("p90", p.p90), ("p95", p.p95), ("p99", p.p99), ("max", p.max)) if v is not None}


def snapshot_to_dict(snap: Snapshot) -> dict[str, Any]:
    """The JSON form of a snapshot (what ``rightsizer snapshot --out`` writes)."""

    def container(c: Container) -> dict[str, Any]:
        usage: dict[str, Any] = {}
        if c.usage.cpu:
            usage["cpu"] = _pct(c.usage.cpu)
        if c.usage.memory:
            usage["memory"] = _pct(c.usage.memory)
        if c.usage.cpu_hourly_p95:
            usage["cpuHourlyP95"] = list(c.usage.cpu_hourly_p95)
        if c.usage.memory_hourly_p95:
            usage["memoryHourlyP95"] = list(c.usage.memory_hourly_p95)
        out: dict[str, Any] = {
            "name": c.name,
            "requests": _quantities(c.resources.requests),
            "limits": _quantities(c.resources.limits),
            "usage": usage,
            "coverageSeconds": c.coverage_seconds,
            "restarts": c.restarts,
            "oomKills": c.oom_kills,
            "cpuThrottledRatio": c.cpu_throttled_ratio,
        }
        if c.init:
            out["init"] = True
        if c.sidecar:
            out["sidecar"] = True
        return out

    def tolerations(ts: tuple[Toleration, ...]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in (("key", t.key), ("operator", t.operator), ("value", t.value), ("effect", t.effect)) if v is not None}
            for t in ts
        ]

    def workload(w: Workload) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": w.kind,
            "namespace": w.namespace,
            "name": w.name,
            "replicas": w.replicas,
            "pods": [{"name": p.name, "node": p.node, "phase": p.phase} for p in w.pods],
            "containers": [container(c) for c in w.containers],
        }
        if w.helm_release:
            out["helmRelease"] = {"name": w.helm_release.name, "namespace": w.helm_release.namespace}
        if w.hpa:
            out["hpa"] = {
                "name": w.hpa.name,
                "minReplicas": w.hpa.min_replicas,
                "maxReplicas": w.hpa.max_replicas,
                "metrics": [{"type": "Resource", "resource": r, "targetType": "Utilization"} for r in w.hpa.utilization_resources],
            }
        for key, value in (("labels", w.labels), ("annotations", w.annotations), ("nodeSelector", w.node_selector)):
            if value:
                out[key] = dict(value)
        if w.tolerations:
            out["tolerations"] = tolerations(w.tolerations)
        if w.kustomization:
            out["kustomization"] = {"name": w.kustomization.name, "namespace": w.kustomization.namespace}
        if w.rollout:
            ro = w.rollout
            out["rollout"] = {"desired": ro.desired, "updated": ro.updated, "ready": ro.ready,
                              "generationObserved": ro.generation_observed, "revisionCurrent": ro.revision_current}
        return out

    data: dict[str, Any] = {
        "version": snap.version,
        "collectedAt": snap.collected_at,
        "window": snap.window,
        "nodes": [
            {
                "name": n.name,
                "allocatable": _quantities(n.allocatable),
                "labels": dict(n.labels),
                "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in n.taints],
                "unschedulable": n.unschedulable,
            }
            for n in snap.nodes
        ],
        "workloads": [workload(w) for w in snap.workloads],
    }
    if snap.cluster:
        data["cluster"] = snap.cluster
    if snap.pending_pods:
        data["pendingPods"] = [
            {
                "namespace": p.namespace,
                "name": p.name,
                "requests": _quantities(p.requests),
                **({"workload": p.workload} if p.workload else {}),
                **({"nodeSelector": dict(p.node_selector)} if p.node_selector else {}),
                **({"tolerations": tolerations(p.tolerations)} if p.tolerations else {}),
            }
            for p in snap.pending_pods
        ]
    data.update(_cluster_objects(snap))
    return data


def fit_warnings(snap: Snapshot) -> list[str]:
    """Why the node-fit check cannot vouch for this snapshot (said out loud, never skipped silently)."""
    out = []
    if not snap.nodes:
        out.append("the snapshot lists no nodes, so node fit was not checked")
    known = {n.name for n in snap.nodes}
    stray = sorted({f"{w.namespace}/{p.name} on {p.node}" for w in snap.workloads for p in w.pods
                    if p.node and p.node not in known})
    if stray and snap.nodes:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        out.append(f"{len(stray)} pod(s) run on nodes the snapshot does not list ({shown}); node fit leaves them out")
    return out


def _quota_quantities(values: Mapping[str, int]) -> dict[str, str]:
    return {k: (quantity.format_cpu(v) if k.endswith(".cpu") else str(quantity.format_memory(v, quantity.Style(""))))
            for k, v in values.items()}


def _cluster_objects(snap: Snapshot) -> dict[str, Any]:
    """The guards' inputs (LimitRanges, quotas, VPAs, Flux readiness), each written only when present."""
    out: dict[str, Any] = {}
    if snap.limit_ranges:
        out["limitRanges"] = [
            {"namespace": lr.namespace, "name": lr.name, "limits": [
                {"type": i.type, **{key: _quantities(res) for key, res in
                                    (("min", i.min), ("max", i.max), ("default", i.default), ("defaultRequest", i.default_request))
                                    if not res.is_empty()},
                 **({"maxLimitRequestRatio": {r: f"{v:g}" for r, v in i.max_ratio.items()}} if i.max_ratio else {})}
                for i in lr.items]}
            for lr in snap.limit_ranges
        ]
    if snap.resource_quotas:
        out["resourceQuotas"] = [{"namespace": q.namespace, "name": q.name, "hard": _quota_quantities(q.hard),
                                  "used": _quota_quantities(q.used)} for q in snap.resource_quotas]
    if snap.vpas:
        out["verticalPodAutoscalers"] = [
            {"namespace": v.namespace, "name": v.name, "targetRef": {"kind": v.target_kind, "name": v.target_name},
             "updateMode": v.mode,
             "containers": [{"name": c.name, **({"mode": c.mode} if c.mode else {}), "target": _quantities(c.target)} for c in v.containers]}
            for v in snap.vpas
        ]
    if snap.flux:
        out["fluxStatus"] = [{"kind": f.kind, "namespace": f.namespace, "name": f.name, "ready": f.ready,
                              "reason": f.reason, "message": f.message} for f in snap.flux]
    return out
