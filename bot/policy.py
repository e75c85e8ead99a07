"""Declarative policy: loading, validation and layering.

Layers, each overriding the one before, field by field:
  built-in preset → the repo's ``preset`` → ``defaults`` → ``namespaces.<ns>``
  → matching ``workloads[]`` rules in order of ``priority`` (equal priorities:
  the rule listed later wins; files are read in name order).
A layer that names a ``preset`` restarts from that preset before applying its
own fields. The result for one container is a typed ``ContainerPolicy``.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from bot import quantity
from bot.duration import parse_duration
from bot.errors import InputError
from bot.model import Workload
from bot.schemas import error_message, is_valid, policies_dir, validator
from bot.yamlio import MAX_POLICY_BYTES, check_finite, field_name, line_of, load_documents, plain

DEFAULT_POLICY_FILE = ".github/rightsizer.yaml"
DEFAULT_POLICY_DIR = ".github/rightsizer"
DEFAULT_PRESET = "balanced"
# Sidecars injected by a mesh or an agent at admission: not in Git, so nothing to patch.
BUILTIN_EXCLUDED_CONTAINERS = ("istio-proxy", "istio-validation", "linkerd-proxy", "linkerd-init", "vault-agent", "vault-agent-init")


# --- typed values --------------------------------------------------------------

@dataclass(frozen=True)
class LimitRule:
    mode: str = "formula"
    request_ratio: float = 2.0
    usage: str = "p95"
    usage_margin: float = 0.6
    only_if_set: bool = True  # a limit the file does not set is added only when the policy says so
    max_decrease_percent: float | None = None  # limits are the OOM line: they may shrink slower than requests


@dataclass(frozen=True)
class Rounding:
    step: int | None = None  # None: the friendly default steps of bot.quantity
    direction: str = "up"


@dataclass(frozen=True)
class Burst:
    threshold: float
    headroom: float


@dataclass(frozen=True)
class ResourcePolicy:
    percentile: str = "p95"
    margin: float = 0.3
    burst: Burst | None = None
    min: int | None = None
    max: int | None = None
    max_increase_percent: float = 25
    max_decrease_percent: float = 25
    deadband_percent: float = 10
    deadband_absolute: int = 0
    deadband_requires: str = "all"  # "all": both thresholds must be passed; "any": one is enough (seed 000)
    rounding: Rounding = Rounding()
    limit: LimitRule = LimitRule()

    def usage_read(self) -> tuple[str, ...]:
        """The usage statistics this policy reads: its percentile, and the limit's when the limit follows usage."""
        return (self.percentile,) + ((self.limit.usage,) if self.limit.mode == "formula" else ())


@dataclass(frozen=True)
class Guards:
    restart: bool = True
    oom_bump_percent: float = 0
    no_downsize: bool = False
    throttle_bump_percent: float = 0
    throttle_threshold: float = 0.25


@dataclass(frozen=True)
class ContainerPolicy:
    cpu: ResourcePolicy
    memory: ResourcePolicy
    mode: str = "pr"
    coverage_required_seconds: int = 14 * 86400
    confidence_max_widen: float = 0.0
    guards: Guards = Guards()
    hpa: str = "skip"
    preserve_qos: bool = True
    exclude: bool = False
    deadband_scope: str = "value"  # "container": one material value moves all four (seed 000)
    stateful: bool = False  # large cuts get a warning
    skip: tuple[str, ...] = ()  # resources never changed (like the rightsizer.io/skip annotation per resource)
    # Where each layer came from, for "why this policy" in the report.
    layers: tuple[str, ...] = ()

    def resource(self, name: str) -> ResourcePolicy:
        return self.cpu if name == "cpu" else self.memory


@dataclass(frozen=True)
class Budgets:
    """Percent of allocatable that total requests may use."""

    cluster_cpu: float = 60
    cluster_memory: float = 65
    node_cpu: float = 60
    node_memory: float = 65
    per_node: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_node(self, name: str) -> tuple[float, float]:
        own = self.per_node.get(name, {})
        return own.get("cpu", self.node_cpu), own.get("memory", self.node_memory)


@dataclass(frozen=True)
class Pin:
    """A human's fixed request for one container (from a `/rightsize pin` command)."""

    ref: str  # namespace/workload/container
    cpu: int | None = None
    memory: int | None = None


@dataclass(frozen=True)
class Overrides:
    skips: tuple[str, ...] = ()
    pins: tuple[Pin, ...] = ()
    # Containers (namespace/workload/container) a writer asked for in the next PR, beyond the cap.
    includes: tuple[str, ...] = ()

    def skipped(self, namespace: str, workload: str, container: str) -> str | None:
        for ref in self.skips:
            parts = ref.split("/")
            if parts[:2] == [namespace, workload] and (len(parts) == 2 or parts[2] == container):
                return ref
        return None

    def pin_for(self, namespace: str, workload: str, container: str) -> Pin | None:
        want = f"{namespace}/{workload}/{container}"
        return next((p for p in self.pins if p.ref == want), None)


@dataclass(frozen=True)
class Rule:
    match: Mapping[str, Any]
    priority: int
    order: int
    policy: Mapping[str, Any]
    label: str

    def matches(self, workload: Workload, container: str) -> bool:
        m = self.match
        if "namespace" in m and not fnmatch.fnmatchcase(workload.namespace, m["namespace"]):
            return False
        if "name" in m and not fnmatch.fnmatchcase(workload.name, m["name"]):
            return False
        if "kind" in m and workload.kind != m["kind"]:
            return False
        if "container" in m and not fnmatch.fnmatchcase(container, m["container"]):
            return False
        return all(workload.labels.get(k) == v for k, v in (m.get("labels") or {}).items())


@dataclass(frozen=True)
class Policy:
    source: str
    preset: str = DEFAULT_PRESET
    mode: str = "pr"
    window: str = "14d"
    window_seconds: int = 14 * 86400
    resolution: str = "5m"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    no_downsize: tuple[str, ...] = ()
    exclude_containers: tuple[str, ...] = BUILTIN_EXCLUDED_CONTAINERS
    budgets: Budgets = Budgets()
    max_changes: int = 10
    gitops: Mapping[str, Any] = field(default_factory=dict)
    pr: Mapping[str, Any] = field(default_factory=dict)
    node_pools: tuple[Mapping[str, Any], ...] = ()
    overrides: Overrides = Overrides()
    # A run limited to some namespaces (--namespaces): only their containers change; node fit still sees every pod.
    only_namespaces: tuple[str, ...] = ()
    # Containers the GitOps adapter could not find in the repo: key → reason (set by the pipeline).
    not_in_git: Mapping[str, str] = field(default_factory=dict)
    # Containers verification holds back (a back-off after a revert, or a revert PR still open): key → reason.
    held: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    _resolved: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def with_overrides(self, overrides: Overrides) -> "Policy":
        return _replace(self, overrides=overrides)

    def with_mode(self, mode: str) -> "Policy":
        return _replace(self, mode=mode, defaults={**self.defaults, "mode": mode}, rules=tuple(
            Rule(r.match, r.priority, r.order, {k: v for k, v in r.policy.items() if k != "mode"}, r.label)
            for r in self.rules
        ), namespaces={ns: {k: v for k, v in p.items() if k != "mode"} for ns, p in self.namespaces.items()})

    def with_max_changes(self, max_changes: int) -> "Policy":
        return _replace(self, max_changes=max_changes)

    def with_namespaces(self, namespaces: tuple[str, ...]) -> "Policy":
        return _replace(self, only_namespaces=tuple(namespaces))

    def defaults_policy(self) -> ContainerPolicy:
        """The container policy before any namespace or workload rule: what "Policy in force" shows."""
        return _resolve(self, "", ())

    def percentiles_used(self) -> dict[str, frozenset[str]]:
        """Per resource, the percentiles (p50…p99) some container's policy may read: what live collection
        measures, each a pass over the whole history. Every resolved value comes from one layer, so resolving
        each namespace with no rule and with each single rule covers what any combination of rules can give."""
        used: dict[str, set[str]] = {"cpu": set(), "memory": set()}
        for ns_key in ("", *self.namespaces):
            for matched in ((), *((r.order,) for r in self.rules)):
                resolved = _resolve(self, ns_key, matched)
                for resource in used:
                    # hourly-p95 falls back to the p95 where a snapshot has no hourly values (live collection has none)
                    used[resource].update("p95" if w == "hourly-p95" else w for w in resolved.resource(resource).usage_read() if w != "max")
        return {resource: frozenset(names) for resource, names in used.items()}

    def for_container(self, workload: Workload, container: str) -> ContainerPolicy:
        matched = tuple(
            r.order
            for r in sorted(self.rules, key=lambda r: (r.priority, r.order))
            if r.matches(workload, container)
        )
        policy = _resolve(self, workload.namespace, matched)
        if container in self.exclude_containers and not policy.exclude:
            policy = _replace(policy, exclude=True, layers=policy.layers + ("excludeContainers",))
        if any(fnmatch.fnmatchcase(workload.ref, pattern) for pattern in self.no_downsize):
            policy = _replace(
                policy, guards=_replace(policy.guards, no_downsize=True), layers=policy.layers + ("noDownsize",)
            )
        return policy


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)


# --- presets -------------------------------------------------------------------

@lru_cache(maxsize=None)
def preset_document(name: str) -> Mapping[str, Any]:
    """A bundled preset as plain data. Read with libyaml's C loader: the presets are ours (no positions are ever
    needed to point at a mistake in them), and the position-keeping parser took 40 ms of every run's start.
    tests/unit/test_policy.py holds the two readings equal for every bundled preset."""
    import yaml

    path = policies_dir() / "presets" / f"{name}.yaml"
    if not path.is_file():
        raise InputError("<policy>", f"unknown preset {name!r}", field="preset")
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_preset(name: str = DEFAULT_PRESET) -> ContainerPolicy:
    """The container policy a preset defines, with nothing layered on top."""
    return container_policy(preset_document(name)["container"], layers=(f"preset {name}",))


# --- resolution ------------------------------------------------------------------

def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _apply_layer(acc: dict[str, Any], layer: Mapping[str, Any], layers: list[str], label: str) -> dict[str, Any]:
    if not layer:
        return acc
    if "preset" in layer:
        acc = deep_merge(preset_document(layer["preset"])["container"], {"mode": acc.get("mode", "pr")})
        layers.append(f"preset {layer['preset']} (via {label})")
    layers.append(label)
    return deep_merge(acc, {k: v for k, v in layer.items() if k != "preset"})


def _resolve(policy: Policy, namespace: str, matched: tuple[int, ...]) -> ContainerPolicy:
    ns_key = namespace if namespace in policy.namespaces else ""
    key = (ns_key, matched)
    cached = policy._resolved.get(key)
    if cached is not None:
        return cached
    layers = [f"preset {policy.preset}"]
    acc = deep_merge(preset_document(policy.preset)["container"], {"mode": policy.mode})
    acc = _apply_layer(acc, policy.defaults, layers, "defaults")
    if ns_key:
        acc = _apply_layer(acc, policy.namespaces[ns_key], layers, f"namespaces.{ns_key}")
    by_order = {r.order: r for r in policy.rules}
    for order in matched:
        rule = by_order[order]
        acc = _apply_layer(acc, rule.policy, layers, rule.label)
    resolved = container_policy(acc, tuple(layers))
    policy._resolved[key] = resolved
    return resolved


def _quantity(resource: str, value: Any) -> int | None:
    if value is None:
        return None
    return quantity.parse(resource, value)


def _resource_policy(resource: str, raw: Mapping[str, Any]) -> ResourcePolicy:
    limit = raw.get("limit") or {}
    rounding = raw.get("round") or {}
    burst = raw.get("burst")
    deadband = raw.get("deadband") or {}
    return ResourcePolicy(
        percentile=raw.get("percentile", "p95"),
        margin=float(raw.get("margin", 0.3)),
        burst=Burst(float(burst.get("threshold", 2.0)), float(burst.get("headroom", 0.0))) if burst else None,
        min=_quantity(resource, raw.get("min")),
        max=_quantity(resource, raw.get("max")),
        max_increase_percent=float(raw.get("maxIncreasePercent", 25)),
        max_decrease_percent=float(raw.get("maxDecreasePercent", 25)),
        deadband_percent=float(deadband.get("percent", 0)),
        deadband_absolute=_quantity(resource, deadband.get("absolute", 0)) or 0,
        deadband_requires=deadband.get("requires", "all"),
        rounding=Rounding(_quantity(resource, rounding["step"]) if "step" in rounding else None, rounding.get("direction", "up")),
        limit=LimitRule(
            mode=limit.get("mode", "formula"),
            request_ratio=float(limit.get("requestRatio", 1.0)),
            usage=limit.get("usage", "p95"),
            usage_margin=float(limit.get("usageMargin", 0.0)),
            only_if_set=bool(limit.get("onlyIfSet", True)),
            max_decrease_percent=float(limit["maxDecreasePercent"]) if "maxDecreasePercent" in limit else None,
        ),
    )


def container_policy(raw: Mapping[str, Any], layers: tuple[str, ...] = ()) -> ContainerPolicy:
    guards = raw.get("guards") or {}
    return ContainerPolicy(
        cpu=_resource_policy("cpu", raw.get("cpu") or {}),
        memory=_resource_policy("memory", raw.get("memory") or {}),
        mode=raw.get("mode", "pr"),
        coverage_required_seconds=parse_duration((raw.get("coverage") or {}).get("required", "0s")),
        confidence_max_widen=float((raw.get("confidence") or {}).get("maxWiden", 0)),
        guards=Guards(
            restart=bool(guards.get("restart", True)),
            oom_bump_percent=float(guards.get("oomBumpPercent", 0)),
            no_downsize=bool(guards.get("noDownsize", False)),
            throttle_bump_percent=float(guards.get("throttleBumpPercent", 0)),
            throttle_threshold=float(guards.get("throttleThreshold", 0.25)),
        ),
        hpa=raw.get("hpa", "skip"),
        preserve_qos=bool(raw.get("preserveQos", True)),
        exclude=bool(raw.get("exclude", False)),
        deadband_scope=raw.get("deadbandScope", "value"),
        stateful=bool(raw.get("stateful", False)),
        skip=tuple(r for r in ("cpu", "memory") if r in (raw.get("skip") or ())),
        layers=layers,
    )


# --- loading -----------------------------------------------------------------------

def policy_files(repo: Path | None, path: str | None) -> list[tuple[Path, str]]:
    """The policy files to read, each with the name to show in messages.

    Inside the repository every path goes through the path gate (no symlinks, no special
    files); a default path that exists but is not a regular file or folder is an error, never
    a silent fallback to the built-in defaults."""
    base = repo or Path(".")
    if path:
        if Path(path).is_absolute() or repo is None:
            target = Path(path)
            if target.is_dir():
                return _folder(target, base, gated=False)
            return [(_regular(target, path), _display(target, base))]
        return _in_repo(base, path, required=True)
    found = _in_repo(base, DEFAULT_POLICY_FILE, required=False, folder_ok=False)
    return found or _in_repo(base, DEFAULT_POLICY_DIR, required=False)


def _in_repo(base: Path, rel: str, *, required: bool, folder_ok: bool = True) -> list[tuple[Path, str]]:
    import os
    import stat

    from bot.safefs import PathRefused, inside, repo_relative

    try:
        clean = repo_relative(rel)
        candidate = base / clean
        if not required and not os.path.lexists(candidate):
            return []
        if folder_ok and os.path.lexists(candidate) and stat.S_ISDIR(os.lstat(candidate).st_mode):
            return _folder(inside(base, clean, folder=True), base, gated=True)
        return [(inside(base, clean), clean)]
    except PathRefused as exc:
        raise InputError(rel, f"policy path refused: {exc}") from None


def _folder(folder: Path, base: Path, *, gated: bool) -> list[tuple[Path, str]]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix not in (".yaml", ".yml"):
            continue
        display = _display(p, base)
        if gated:
            import stat

            mode = p.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise InputError(display, "policy path refused: not a regular file (symlinks and special files are not read)")
            out.append((p, display))
        else:
            out.append((_regular(p, display), display))
    return out


def _regular(target: Path, shown: str) -> Path:
    import os
    import stat

    try:
        mode = os.stat(target).st_mode
    except OSError:
        kind = "a dangling symlink" if os.path.islink(target) else "not found"
        raise InputError(shown, f"policy file {kind}") from None
    if not stat.S_ISREG(mode):
        raise InputError(shown, "policy path is not a regular file or folder (a FIFO or device?)")
    return target


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _schema_error(doc: Any, data: Any, display: str) -> InputError | None:
    if is_valid("policy", data):
        return None  # the compiled check; jsonschema (slow to import and to run) only explains an error
    from jsonschema.exceptions import best_match

    errors = list(validator("policy").iter_errors(data))
    if not errors:
        return None
    err = best_match(errors)
    path = list(err.absolute_path)
    message = error_message("policy", err)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            path = path + [extra[0]]
            message = f"unknown field {extra[0]!r}; allowed here: {', '.join(sorted(allowed))}"
    return InputError(display, message, line=line_of(doc, path), field=field_name(path))


def _check_semantics(doc: Any, data: Mapping[str, Any], display: str) -> None:
    """What the schema cannot say: min ≤ max, node pool bounds, valid quantities."""

    def container_layers() -> Iterable[tuple[list[Any], Mapping[str, Any]]]:
        if "defaults" in data:
            yield ["defaults"], data["defaults"]
        for ns, layer in (data.get("namespaces") or {}).items():
            yield ["namespaces", ns], layer
        for i, rule in enumerate(data.get("workloads") or []):
            if "policy" in rule:
                yield ["workloads", i, "policy"], rule["policy"]

    for path, layer in container_layers():
        for resource in ("cpu", "memory"):
            rp = layer.get(resource) or {}
            for key in ("min", "max"):
                if key in rp:
                    try:
                        quantity.parse(resource, rp[key])
                    except quantity.QuantityError as exc:
                        p = path + [resource, key]
                        raise InputError(display, str(exc), line=line_of(doc, p), field=field_name(p)) from None
            if "min" in rp and "max" in rp and quantity.parse(resource, rp["min"]) > quantity.parse(resource, rp["max"]):
                p = path + [resource, "min"]
                raise InputError(display, f"min {rp['min']} is above max {rp['max']}", line=line_of(doc, p), field=field_name(p))
    for i, pool in enumerate(data.get("nodePools") or []):
        if "min" in pool and "max" in pool and pool["min"] > pool["max"]:
            p = ["nodePools", i, "min"]
            raise InputError(display, f"min {pool['min']} is above max {pool['max']}", line=line_of(doc, p), field=field_name(p))


_SCALARS = ("version", "preset", "mode", "window", "resolution")
_LISTS = ("workloads", "noDownsize", "excludeContainers", "nodePools")


def _merge_files(parts: list[tuple[str, Any, Mapping[str, Any]]]) -> tuple[dict[str, Any], list[tuple[str, int, Mapping[str, Any], Any]]]:
    merged: dict[str, Any] = {}
    rules: list[tuple[str, int, Mapping[str, Any], Any]] = []
    origin: dict[str, str] = {}
    for display, doc, data in parts:
        for key, value in data.items():
            if key == "workloads":
                rules.extend((display, i, rule, doc) for i, rule in enumerate(value))
            elif key in _LISTS:
                merged.setdefault(key, []).extend(value)
            elif key in _SCALARS:
                if key in merged and merged[key] != value:
                    raise InputError(
                        display, f"{key} is {value!r} here but {merged[key]!r} in {origin[key]}",
                        line=line_of(doc, [key]), field=key,
                    )
                merged[key], origin[key] = value, display
            else:
                merged[key] = deep_merge(merged.get(key, {}), value)
    return merged, rules


def load_policy(repo: Path | None = None, path: str | None = None) -> Policy:
    files = policy_files(repo, path)
    parts = []
    for file, display in files:
        docs = load_documents(file, display, limit=MAX_POLICY_BYTES)
        if len(docs) > 1:
            raise InputError(display, "a policy file holds one YAML document", line=line_of(docs[1], []))
        doc = docs[0] if docs else {}
        data = plain(doc)
        if not isinstance(data, dict):
            raise InputError(display, "a policy file must be a mapping of fields", line=1)
        check_finite(doc, data, display)
        error = _schema_error(doc, data, display)
        if error:
            raise error
        _check_semantics(doc, data, display)
        _check_values(doc, data, display)
        parts.append((display, doc, data))
    policy = build_policy(parts, ", ".join(d for d, _, _ in parts) or "built-in defaults")
    _check_layered_bounds(policy, parts)
    return policy


def _fail(doc: Any, display: str, path: list[Any], message: str) -> InputError:
    return InputError(display, message, line=line_of(doc, path), field=field_name(path))


def _container_layers(data: Mapping[str, Any]) -> Iterable[tuple[list[Any], Mapping[str, Any]]]:
    if isinstance(data.get("defaults"), Mapping):
        yield ["defaults"], data["defaults"]
    for ns, layer in (data.get("namespaces") or {}).items():
        yield ["namespaces", ns], layer
    for i, rule in enumerate(data.get("workloads") or []):
        if isinstance(rule.get("policy"), Mapping):
            yield ["workloads", i, "policy"], rule["policy"]


# CPU is written in cores or millicores (k at most); memory in bytes with a size suffix.
_CPU_SUFFIXES = ("", "m", "k")
_FRACTIONAL_SUFFIXES = ("m", "u", "n")


def _check_quantity(doc: Any, display: str, path: list[Any], resource: str, value: Any) -> int:
    suffix = quantity.suffix_of(value)
    if resource == "cpu" and suffix not in _CPU_SUFFIXES:
        raise _fail(doc, display, path, f"{value!r} is not a CPU quantity (use cores like 0.5 or millicores like 500m)")
    if resource == "memory" and suffix in _FRACTIONAL_SUFFIXES:
        raise _fail(doc, display, path, f"{value!r} is not a memory quantity (use bytes like 512Mi or 1Gi)")
    try:
        return quantity.parse(resource, value)
    except quantity.QuantityError as exc:
        raise _fail(doc, display, path, str(exc)) from None


def _check_duration(doc: Any, display: str, path: list[Any], value: Any, *, positive: bool) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _fail(doc, display, path, str(exc)) from None
    if positive and seconds <= 0:
        raise _fail(doc, display, path, f"{value!r} must be longer than zero")


def _check_values(doc: Any, data: Mapping[str, Any], display: str) -> None:
    """Ranges, units, formats and repository paths: what the schema's types let through."""
    from bot.safefs import PathRefused, repo_relative

    for key in ("window", "resolution"):
        if key in data:
            _check_duration(doc, display, [key], data[key], positive=True)
    for path, layer in _container_layers(data):
        for resource in ("cpu", "memory"):
            rp = layer.get(resource) or {}
            for sub in (["min"], ["max"], ["round", "step"], ["deadband", "absolute"]):
                node: Any = rp
                for k in sub:
                    node = node.get(k) if isinstance(node, Mapping) else None
                if node is not None:
                    _check_quantity(doc, display, path + [resource, *sub], resource, node)
        coverage = layer.get("coverage") or {}
        if "required" in coverage:
            _check_duration(doc, display, path + ["coverage", "required"], coverage["required"], positive=False)
    for i, pool in enumerate(data.get("nodePools") or []):
        if "cooldown" in pool:
            _check_duration(doc, display, ["nodePools", i, "cooldown"], pool["cooldown"], positive=False)
    files = [(["gitops", "mappings", i, "file"], m.get("file")) for i, m in enumerate((data.get("gitops") or {}).get("mappings") or [])]
    files += [(["nodePools", i, "terraform", "file"], (p.get("terraform") or {}).get("file")) for i, p in enumerate(data.get("nodePools") or [])]
    for path, rel in files:
        if isinstance(rel, str):
            try:
                repo_relative(rel)
            except PathRefused as exc:
                raise _fail(doc, display, path, f"must be a path inside the repository: {exc}") from None
    title = (data.get("pr") or {}).get("title")
    if isinstance(title, str):
        try:
            title.format(n=1)
        except (IndexError, KeyError, ValueError, AttributeError) as exc:
            raise _fail(doc, display, ["pr", "title"], f"{title!r}: only the placeholder {{n}} (the number of changes) is allowed ({type(exc).__name__}: {exc})") from None


def _check_layered_bounds(policy: Policy, parts: list[tuple[str, Any, Mapping[str, Any]]]) -> None:
    """min ≤ max for every chain of layers a container can get: preset → defaults → namespace →
    each rule. A min in one layer and a max in another must agree too; the error points at the
    last layer of the chain that set either bound."""

    def origin(key: list[Any]) -> tuple[str, Any, list[Any]]:
        for display, doc, data in reversed(parts):
            node: Any = data
            for k in key:
                node = node.get(k) if isinstance(node, Mapping) else None
            if node is not None:
                return display, doc, key
        return policy.source, None, key

    _, rule_entries = _merge_files(parts)
    base: list[tuple[Mapping[str, Any], Any]] = [(policy.defaults, lambda: origin(["defaults"]))]
    chains = [base]
    chains += [base + [(layer, lambda ns=ns: origin(["namespaces", ns]))] for ns, layer in policy.namespaces.items()]
    for rule in policy.rules:
        display, i, _raw, doc = rule_entries[rule.order]
        step = (rule.policy, lambda display=display, doc=doc, i=i: (display, doc, ["workloads", i, "policy"]))
        chains.append(base + [step])
        chains += [chain + [step] for chain in chains[1:1 + len(policy.namespaces)]]
    for chain in chains:
        acc = deep_merge(preset_document(policy.preset)["container"], {"mode": policy.mode})
        for layer, where in chain:
            acc = _apply_layer(acc, layer, [], "")
            for resource in ("cpu", "memory"):
                own = layer.get(resource) or {}
                rp = acc.get(resource) or {}
                if not ("min" in own or "max" in own) or rp.get("min") is None or rp.get("max") is None:
                    continue
                if quantity.parse(resource, rp["min"]) > quantity.parse(resource, rp["max"]):
                    display, doc, path = where()
                    field = path + [resource, "min" if "min" in own else "max"]
                    raise InputError(display, f"after layering, {resource} min {rp['min']} is above max {rp['max']}",
                                     line=line_of(doc, field) if doc is not None else None, field=field_name(field))


def build_policy(parts: list[tuple[str, Any, Mapping[str, Any]]], source: str) -> Policy:
    merged, rule_entries = _merge_files(parts)
    preset = merged.get("preset", DEFAULT_PRESET)
    preset_doc = preset_document(preset)
    budgets_raw = deep_merge(preset_doc.get("budgets", {}), merged.get("budgets", {}))
    selection = deep_merge(preset_doc.get("selection", {}), merged.get("selection", {}))
    rules = tuple(
        Rule(
            match=rule["match"],
            priority=int(rule.get("priority", 0)),
            order=n,
            policy=rule.get("policy", {}),
            label=f"{display}: workloads[{i}]" + (f" ({rule['name']})" if rule.get("name") else ""),
        )
        for n, (display, i, rule, _doc) in enumerate(rule_entries)
    )
    window = merged.get("window", "14d")
    policy = Policy(
        source=source,
        preset=preset,
        mode=merged.get("mode", "pr"),
        window=window,
        window_seconds=parse_duration(window),
        resolution=merged.get("resolution", "5m"),
        defaults=merged.get("defaults", {}),
        namespaces=merged.get("namespaces", {}),
        rules=rules,
        no_downsize=tuple(merged.get("noDownsize", ())),
        exclude_containers=BUILTIN_EXCLUDED_CONTAINERS + tuple(merged.get("excludeContainers", ())),
        budgets=Budgets(
            cluster_cpu=budgets_raw.get("cluster", {}).get("cpu", 60),
            cluster_memory=budgets_raw.get("cluster", {}).get("memory", 65),
            node_cpu=budgets_raw.get("node", {}).get("cpu", 60),
            node_memory=budgets_raw.get("node", {}).get("memory", 65),
            per_node=budgets_raw.get("nodes", {}),
        ),
        max_changes=int(selection.get("maxChanges", 10)),
        gitops=merged.get("gitops", {}),
        pr=merged.get("pr", {}),
        node_pools=tuple(merged.get("nodePools", ())),
        raw=merged,
    )
    return policy


def default_policy() -> Policy:
    return build_policy([], "built-in defaults")
