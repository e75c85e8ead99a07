"""GitOps settings from the policy's `gitops:` section, as values."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class ExplicitMapping:
    """`gitops.mappings[]`: this workload (and container) is sized at this file and values path."""

    workload: str  # namespace/name
    file: str
    path: str  # dotted path to the resources block, e.g. spec.values.controllers.main.containers.app.resources
    container: str | None = None
    document: int | None = None

    def matches(self, namespace: str, workload: str, container: str) -> bool:
        return self.workload == f"{namespace}/{workload}" and self.container in (None, container)


@dataclass(frozen=True)
class ChartPaths:
    """`gitops.charts[]`: where a chart keeps a container's resources; `{container}` is replaced.
    ``workload`` and ``container`` (globs, default any) say which of the chart's containers it sizes."""

    chart: str
    paths: tuple[str, ...]
    workload: str = "*"
    container: str = "*"

    def matches(self, workload: str, container: str) -> bool:
        return fnmatch.fnmatchcase(workload, self.workload) and fnmatch.fnmatchcase(container, self.container)


@dataclass(frozen=True)
class GitOpsConfig:
    mappings: tuple[ExplicitMapping, ...] = ()
    charts: tuple[ChartPaths, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def config_from_policy(raw: Mapping[str, Any]) -> GitOpsConfig:
    raw = raw or {}
    return GitOpsConfig(
        mappings=tuple(
            ExplicitMapping(m["workload"], m["file"], m["path"], m.get("container"), m.get("document"))
            for m in raw.get("mappings", ())
        ),
        charts=tuple(
            ChartPaths(c["chart"], tuple([c["valuesPath"]] if isinstance(c["valuesPath"], str) else c["valuesPath"]),
                       str(c.get("workload") or "*"), str(c.get("container") or "*"))
            for c in raw.get("charts", ())
        ),
        include=tuple(raw.get("include", ())),
        exclude=tuple(raw.get("exclude", ())),
    )
