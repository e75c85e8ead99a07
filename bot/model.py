"""The typed values that flow through Rightsizer: what the cluster looks like,
and what the engine decided to change.

Everything here is an immutable dataclass with no I/O. CPU is integer
millicores and memory integer bytes (see ``bot.quantity``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator, Mapping

RESOURCES = ("cpu", "memory")
FIELDS = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))
BATCH_KINDS = frozenset({"Job", "CronJob"})


@dataclass(frozen=True, slots=True)
class Resources:
    """A requests or limits map; ``None`` means the key is not set."""

    cpu: int | None = None
    memory: int | None = None

    def get(self, resource: str) -> int | None:
        if resource == "cpu":  # the two names first: called about 50 times per container
            return self.cpu
        if resource == "memory":
            return self.memory
        return getattr(self, resource)

    def with_value(self, resource: str, value: int | None) -> "Resources":
        if resource == "cpu":  # made directly: dataclasses.replace costs 4× a constructor call
            return Resources(value, self.memory)
        if resource == "memory":
            return Resources(self.cpu, value)
        return replace(self, **{resource: value})

    def is_empty(self) -> bool:
        return self.cpu is None and self.memory is None


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    requests: Resources = Resources()
    limits: Resources = Resources()

    def get(self, kind: str, resource: str) -> int | None:
        return getattr(self, kind).get(resource)

    def with_value(self, kind: str, resource: str, value: int | None) -> "ResourceSpec":
        if kind == "requests":
            return ResourceSpec(self.requests.with_value(resource, value), self.limits)
        if kind == "limits":
            return ResourceSpec(self.requests, self.limits.with_value(resource, value))
        return replace(self, **{kind: getattr(self, kind).with_value(resource, value)})

    def effective_request(self, resource: str) -> int:
        """What the scheduler reserves: the request, or the limit when only a limit is set."""
        req = self.requests.get(resource)
        if req is not None:
            return req
        lim = self.limits.get(resource)
        return lim if lim is not None else 0

    @property
    def qos(self) -> str:
        """The container's share of the pod QoS class: Guaranteed, Burstable or BestEffort."""
        if self.requests.is_empty() and self.limits.is_empty():
            return "BestEffort"
        guaranteed = all(
            self.limits.get(r) is not None
            and self.requests.get(r) in (None, self.limits.get(r))
            for r in RESOURCES
        )
        return "Guaranteed" if guaranteed else "Burstable"

    def diff(self, other: "ResourceSpec") -> Iterator[tuple[str, str, int | None, int | None]]:
        for kind, resource in FIELDS:
            a, b = self.get(kind, resource), other.get(kind, resource)
            if a != b:
                yield kind, resource, a, b


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Usage distribution over the window: cores for CPU, bytes for memory. A percentile is None when it
    was not measured: live collection asks only for those the policy uses (each costs a pass over the history)."""

    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float

    def at(self, name: str) -> float | None:
        return getattr(self, name)

    def statistic(self, which: str, hourly: tuple[float, ...] | None = None) -> float | None:
        """A policy's usage statistic: a percentile, the max, or hourly-p95 (the busiest hour's p95; the p95
        when there are no hourly values)."""
        if which == "hourly-p95":
            return max(hourly) if hourly else self.p95
        return self.at(which)


@dataclass(frozen=True, slots=True)
class Usage:
    cpu: Percentiles | None = None
    memory: Percentiles | None = None
    # Optional hour-of-day p95 (24 values), for time-of-day aware estimators.
    cpu_hourly_p95: tuple[float, ...] | None = None
    memory_hourly_p95: tuple[float, ...] | None = None

    def get(self, resource: str) -> Percentiles | None:
        return getattr(self, resource)

    def hourly(self, resource: str) -> tuple[float, ...] | None:
        return getattr(self, f"{resource}_hourly_p95")


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    resources: ResourceSpec = ResourceSpec()
    usage: Usage = Usage()
    coverage_seconds: float = 0.0
    restarts: int = 0
    oom_kills: int = 0
    cpu_throttled_ratio: float | None = None
    init: bool = False
    # A native sidecar (init container with restartPolicy: Always) runs beside the app.
    sidecar: bool = False


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    node: str | None
    phase: str = "Running"


@dataclass(frozen=True, slots=True)
class HelmReleaseRef:
    name: str
    namespace: str


@dataclass(frozen=True)
class Hpa:
    name: str
    min_replicas: int = 1
    max_replicas: int = 1
    # Resources the HPA scales on by utilization (a fraction of the request).
    utilization_resources: tuple[str, ...] = ()


@dataclass(frozen=True)
class FluxRef:
    """A Flux object that applies a workload: ``HelmRelease`` or ``Kustomization``."""

    kind: str
    name: str
    namespace: str


@dataclass(frozen=True)
class Rollout:
    """A Deployment's or StatefulSet's rollout status, as the controller last reported it."""

    desired: int
    updated: int
    ready: int
    generation_observed: bool = True  # status.observedGeneration ≥ metadata.generation
    revision_current: bool = True  # StatefulSet: currentRevision == updateRevision

    @property
    def in_progress(self) -> bool:
        # Pods not ready alone is not a rollout: a container crash-looping on OOM kills must still get its fix.
        return not self.generation_observed or not self.revision_current or self.updated < self.desired


@dataclass(frozen=True)
class Toleration:
    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None


@dataclass(frozen=True)
class Taint:
    key: str
    value: str | None = None
    effect: str = "NoSchedule"

    def tolerated_by(self, tolerations: tuple[Toleration, ...]) -> bool:
        for t in tolerations:
            if t.effect not in (None, "", self.effect):
                continue
            if t.operator == "Exists" and t.key in (None, "", self.key):
                return True
            if t.key == self.key and (t.value or None) == (self.value or None):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Workload:
    kind: str
    namespace: str
    name: str
    replicas: int = 1
    containers: tuple[Container, ...] = ()
    pods: tuple[Pod, ...] = ()
    helm_release: HelmReleaseRef | None = None
    hpa: Hpa | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    kustomization: FluxRef | None = None  # the Flux Kustomization that applies it (kustomize.toolkit.fluxcd.io labels)
    rollout: Rollout | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.kind, self.name)

    @property
    def is_batch(self) -> bool:
        return self.kind in BATCH_KINDS

    @property
    def is_daemonset(self) -> bool:
        return self.kind == "DaemonSet"

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass(frozen=True)
class Node:
    name: str
    allocatable: Resources
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False

    def admits(self, node_selector: Mapping[str, str], tolerations: tuple[Toleration, ...]) -> bool:
        """Could a pod with this selector and these tolerations be scheduled here?"""
        if self.unschedulable:
            return False
        if any(self.labels.get(k) != v for k, v in node_selector.items()):
            return False
        hard = (t for t in self.taints if t.effect in ("NoSchedule", "NoExecute"))
        return all(t.tolerated_by(tolerations) for t in hard)


@dataclass(frozen=True)
class PendingPod:
    """A pod the scheduler could not place (phase Pending, PodScheduled=False)."""

    namespace: str
    name: str
    requests: Resources
    workload: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()


# --- cluster objects the guards read (bot.engine.guards) ----------------------

@dataclass(frozen=True)
class LimitRangeItem:
    """One ``spec.limits[]`` entry of a LimitRange: type Container or Pod."""

    type: str
    min: Resources = Resources()
    max: Resources = Resources()
    default: Resources = Resources()  # the limit admission adds when a container sets none
    default_request: Resources = Resources()
    max_ratio: Mapping[str, float] = field(default_factory=dict)  # maxLimitRequestRatio per resource


@dataclass(frozen=True)
class LimitRange:
    namespace: str
    name: str
    items: tuple[LimitRangeItem, ...] = ()


QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


@dataclass(frozen=True)
class ResourceQuota:
    """hard and used per key of QUOTA_KEYS (``cpu``/``memory`` are read as ``requests.*``), millicores or bytes."""

    namespace: str
    name: str
    hard: Mapping[str, int] = field(default_factory=dict)
    used: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VpaContainer:
    name: str
    mode: str | None = None  # containerPolicies[].mode: Auto or Off (None: the VPA's own mode)
    target: Resources = Resources()  # status.recommendation.containerRecommendations[].target


@dataclass(frozen=True)
class Vpa:
    namespace: str
    name: str
    target_kind: str
    target_name: str
    mode: str = "Auto"  # spec.updatePolicy.updateMode (Auto when unset, as the VPA itself defaults)
    containers: tuple[VpaContainer, ...] = ()

    def container(self, name: str) -> VpaContainer | None:
        return next((c for c in self.containers if c.name == name), None) or next(
            (c for c in self.containers if c.name == "*"), None)


@dataclass(frozen=True)
class FluxStatus:
    """A HelmRelease's or Kustomization's Ready condition."""

    kind: str
    namespace: str
    name: str
    ready: str  # "True", "False" or "Unknown"
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class Snapshot:
    version: int
    collected_at: str
    window: str
    window_seconds: int
    nodes: tuple[Node, ...]
    workloads: tuple[Workload, ...]
    pending_pods: tuple[PendingPod, ...] = ()
    cluster: str | None = None
    limit_ranges: tuple[LimitRange, ...] = ()
    resource_quotas: tuple[ResourceQuota, ...] = ()
    vpas: tuple[Vpa, ...] = ()
    flux: tuple[FluxStatus, ...] = ()


# --- what the engine hands to the adapters ---------------------------------

@dataclass(frozen=True)
class ContainerChange:
    """One container's new resources, as the GitOps adapter needs to find and patch it.

    ``proposed`` holds the complete wanted values; a field equal to ``current``
    is left alone, a field that becomes ``None`` is removed from the file.
    """

    namespace: str
    kind: str
    workload: str
    container: str
    current: ResourceSpec
    proposed: ResourceSpec
    init: bool = False
    helm_release: HelmReleaseRef | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.workload}/{self.container}"

    def changed_fields(self) -> list[tuple[str, str, int | None, int | None]]:
        return list(self.current.diff(self.proposed))
