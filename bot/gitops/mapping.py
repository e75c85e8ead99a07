"""Mapping: from a running container to the one `resources:` block in Git that sizes it.

Rules, in order (the first that applies decides; nothing is guessed silently):
1. an explicit `gitops.mappings` entry in the policy;
2. the workload's HelmRelease (from the Flux labels the snapshot carries), then
   - bjw-s app-template 2.x+: `controllers.<c>.containers|initContainers.<name>`, where the
     controller is the one whose rendered name is the workload's: `<release>` for a
     controller named like the release, `main`, or the only one; `<release>-<c>` otherwise;
   - app-template 1.x: the root `resources`;
   - a chart in the built-in table or `gitops.charts`;
   - any other chart with a root `resources` and a one-container workload;
   inline `spec.values` win over values files from `valuesFrom` (as in Flux);
3. a plain manifest with the workload's kind and name (and namespace, from the
   file, its kustomization or the Flux Kustomization), preferring a kustomize
   patch that sets the container's resources over the base it patches.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Sequence

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.gitops.discover import HelmRelease, Inventory, Manifest
from bot.gitops.yamldoc import get_path, shared_along
from bot.model import ContainerChange

APP_TEMPLATE = ("app-template",)
# chart → [(workload-name glob, values paths)]; {container} is the container's name.
BUILTIN_CHARTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "spegel": [("*", ("resources",))],
    "descheduler": [("*", ("resources",))],
    "reloader": [("*", ("reloader.deployment.resources",))],
    "csi-driver-nfs": [("*-controller", ("controller.resources.{container}",)), ("*-node", ("node.resources.{container}",))],
    "ingress-nginx": [("*-defaultbackend", ("defaultBackend.resources",)), ("*", ("controller.resources",))],
    "cert-manager": [
        ("*-webhook", ("webhook.resources",)),
        ("*-cainjector", ("cainjector.resources",)),
        ("*-startupapicheck", ("startupapicheck.resources",)),
        ("*", ("resources",)),
    ],
}


@dataclass(frozen=True)
class Target:
    file: str
    doc: int
    block: tuple  # path to the resources mapping (may not exist yet: then it is created)
    how: str  # human description of the rule that found it
    warnings: tuple[str, ...] = ()


@dataclass
class MappingResult:
    mapped: list[tuple[ContainerChange, Target]] = field(default_factory=list)
    unmapped: list[tuple[ContainerChange, str]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # repository files the path gate would not read


def _dotted(path: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in path.split(".") if p)


def _exists(inv: Inventory, file: str, doc: int, path: tuple) -> Any:
    yf = inv.files.get(file)
    if yf is None or doc >= len(yf.docs):
        return None
    return get_path(yf.docs[doc], path)


def _find_helmrelease(inv: Inventory, change: ContainerChange) -> HelmRelease | None:
    if change.helm_release:
        ref = change.helm_release
        exact = [h for h in inv.helmreleases if h.name == ref.name and h.namespace == ref.namespace]
        loose = [h for h in inv.helmreleases if h.name == ref.name and h.namespace is None]
        found = exact or loose
        return found[0] if len(found) == 1 else None
    return None


def _app_template_target(inv: Inventory, hr: HelmRelease, change: ContainerChange) -> Target | str:
    roots = [r for r in hr.values if r.file in inv.files]
    controllers: dict[str, tuple] = {}
    for r in roots:
        node = _exists(inv, r.file, r.doc, r.path + ("controllers",))
        if isinstance(node, CommentedMap):
            for c in node:
                controllers.setdefault(str(c), (r.file, r.doc, r.path))
    if not controllers:
        # app-template 1.x: one main container sized at the root
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + ("image",)), CommentedMap) or _exists(inv, r.file, r.doc, r.path + ("resources",)) is not None:
                return Target(r.file, r.doc, r.path + ("resources",), f"HelmRelease {hr.ref} (app-template 1.x, root resources)")
        return "app-template values without controllers or a root image"
    release, workload = hr.release_name, change.workload
    names = sorted(controllers)
    candidates = []
    if workload == release:
        candidates += [c for c in names if c == release] or [c for c in names if c == "main"] or (names if len(names) == 1 else [])
    candidates += [c for c in names if workload == f"{release}-{c}"]
    candidates += [c for c in names if workload == c and c not in candidates]
    if not candidates:
        return f"no controller of HelmRelease {hr.ref} renders as {change.kind} {workload} (controllers: {', '.join(names)})"
    ctrl = candidates[0]
    section = "initContainers" if change.init else "containers"
    for r in roots:
        container = _exists(inv, r.file, r.doc, r.path + ("controllers", ctrl, section, change.container))
        if isinstance(container, CommentedMap):
            block = r.path + ("controllers", ctrl, section, change.container, "resources")
            how = f"HelmRelease {hr.ref} (app-template), controllers.{ctrl}.{section}.{change.container}"
            warn = ()
            if not isinstance(container.get("resources"), CommentedMap):
                default = _exists(inv, r.file, r.doc, r.path + ("defaultContainerOptions", "resources"))
                if default is not None:
                    how += " (a container-level block; the shared defaultContainerOptions stay as they are)"
            return Target(r.file, r.doc, block, how, warn)
    return f"container {change.container} is not under controllers.{ctrl}.{section} of HelmRelease {hr.ref}"


def _chart_paths(inv: Inventory, hr: HelmRelease, workload: str) -> tuple[str, ...]:
    for cp in inv.config.charts:
        if cp.chart == hr.chart:
            return cp.paths
    for pattern, paths in BUILTIN_CHARTS.get(hr.chart, []):
        if fnmatch.fnmatchcase(workload, pattern):
            return paths
    return ()


def _chart_target(inv: Inventory, hr: HelmRelease, change: ContainerChange, single_container: bool) -> Target | str:
    roots = [r for r in hr.values if r.file in inv.files]
    if not roots:
        return f"HelmRelease {hr.ref} has no values in Git to patch"
    paths = _chart_paths(inv, hr, change.workload)
    for p in paths:
        rel = _dotted(p.format(container=change.container))
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + rel), CommentedMap):
                return Target(r.file, r.doc, r.path + rel, f"HelmRelease {hr.ref} (chart {hr.chart}), {'.'.join(map(str, rel))}")
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + rel[:-1]), CommentedMap) or len(rel) == 1:
                return Target(r.file, r.doc, r.path + rel, f"HelmRelease {hr.ref} (chart {hr.chart}), {'.'.join(map(str, rel))} (added)")
    if not paths and single_container:
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + ("resources",)), CommentedMap):
                return Target(r.file, r.doc, r.path + ("resources",), f"HelmRelease {hr.ref} (chart {hr.chart or '?'}), root resources")
    hint = "add a gitops.charts entry with its valuesPath" if not paths else "none of its values paths exist"
    return f"chart {hr.chart or '?'} of HelmRelease {hr.ref}: don't know where it sizes {change.container} ({hint})"


def _container_index(inv: Inventory, m: Manifest, container: str, init: bool) -> int | None:
    seq = _exists(inv, m.file, m.doc, m.pod_spec + ("initContainers" if init else "containers",))
    if isinstance(seq, CommentedSeq):
        for i, c in enumerate(seq):
            if isinstance(c, CommentedMap) and c.get("name") == container:
                return i
    return None


def _manifest_target(inv: Inventory, change: ContainerChange) -> Target | str:
    docs = [m for m in inv.manifests if m.kind == change.kind and m.name == change.workload]
    if not docs:
        return f"no HelmRelease label and no {change.kind} named {change.workload} in the repository"
    exact = [m for m in docs if m.namespace == change.namespace]
    docs = exact or [m for m in docs if m.namespace is None]
    if not docs:
        return f"{change.kind} {change.workload} exists only in other namespaces"
    section = "initContainers" if change.init else "containers"
    found = []
    for m in docs:
        i = _container_index(inv, m, change.container, change.init)
        if i is None:
            continue
        has = isinstance(_exists(inv, m.file, m.doc, m.pod_spec + (section, i, "resources")), CommentedMap)
        found.append((not has, not m.is_patch, m.file, m, i))
    if not found:
        return f"container {change.container} not found in {change.kind} {change.workload}"
    _, _, _, m, i = sorted(found, key=lambda t: t[:3])[0]
    how = f"{change.kind} {change.namespace}/{change.workload}" + (" (kustomize patch)" if m.is_patch else "")
    return Target(m.file, m.doc, m.pod_spec + (section, i, "resources"), how)


def target_for(inv: Inventory, change: ContainerChange, single_container: bool = True) -> Target | str:
    inv.need(change.workload, change.helm_release.name if change.helm_release else "")
    for em in inv.config.mappings:
        if em.matches(change.namespace, change.workload, change.container):
            inv.need_file(em.file)
            if em.file not in inv.files:
                why = inv.refused.get(em.file)
                return f"gitops.mappings points at {em.file}, which is not a readable YAML file" + (f" ({why})" if why else "")
            return Target(em.file, em.document or 0, _dotted(em.path), f"gitops.mappings entry for {em.workload}")
    hr = _find_helmrelease(inv, change)
    if change.helm_release and hr is None:
        refused = inv.refusals_for(change.helm_release.name)
        return (f"HelmRelease {change.helm_release.namespace}/{change.helm_release.name} not found in the repository (or found twice)"
                + (f"; files that mention it were not read: {refused}" if refused else ""))
    if hr is not None:
        if hr.chart in APP_TEMPLATE or any(_exists(inv, r.file, r.doc, r.path + ("controllers",)) is not None for r in hr.values if r.file in inv.files):
            target = _app_template_target(inv, hr, change)
        else:
            target = _chart_target(inv, hr, change, single_container)
        if isinstance(target, Target) and hr.target_paths:
            target = Target(target.file, target.doc, target.block, target.how,
                            target.warnings + (f"HelmRelease {hr.ref} also takes values from valuesFrom targetPath ({', '.join(hr.target_paths)}), which may override this",))
        return target
    return _manifest_target(inv, change)


def _unshared(inv: Inventory, target: Target) -> Target | str:
    anchor = shared_along(inv.doc(target.file, target.doc), target.block, inv.reach(target.file, target.doc))
    if anchor:
        return (f"its resources in {target.file} are shared through the YAML anchor &{anchor} with other places; "
                "changing them would resize those too (give this container its own block, or map it explicitly)")
    return target


def map_changes(inv: Inventory, changes: Sequence[ContainerChange], containers_per_workload: dict | None = None) -> MappingResult:
    result = MappingResult()
    for change in changes:
        single = True if containers_per_workload is None else containers_per_workload.get((change.namespace, change.workload), 1) == 1
        target = target_for(inv, change, single)
        if isinstance(target, Target):
            target = _unshared(inv, target)
        if isinstance(target, Target):
            result.mapped.append((change, target))
        else:
            result.unmapped.append((change, target))
    result.refused = dict(inv.refused)
    return result


def all_targets(inv: Inventory) -> list[tuple[str, Target]]:
    """Every container sizing block the repo has, without a snapshot: (label, target).

    Used to report what discovery sees and by the corpus tests; only blocks that
    exist are listed (creating one needs a running container to ask for it).
    """
    out: list[tuple[str, Target]] = []
    for hr in inv.helmreleases:
        roots = [r for r in hr.values if r.file in inv.files]
        for r in roots:
            ctrls = _exists(inv, r.file, r.doc, r.path + ("controllers",))
            if isinstance(ctrls, CommentedMap):
                for c, ctrl in ctrls.items():
                    if not isinstance(ctrl, CommentedMap):
                        continue
                    for section in ("containers", "initContainers"):
                        conts = ctrl.get(section)
                        if not isinstance(conts, CommentedMap):
                            continue
                        for name, cont in conts.items():
                            if isinstance(cont, CommentedMap) and isinstance(cont.get("resources"), CommentedMap):
                                block = r.path + ("controllers", c, section, name, "resources")
                                out.append((f"{hr.ref} {c}/{name}", Target(r.file, r.doc, block, "app-template")))
                continue
            chart_paths = [p for patterns in BUILTIN_CHARTS.get(hr.chart, []) for p in patterns[1]]
            chart_paths += [p for cp in inv.config.charts if cp.chart == hr.chart for p in cp.paths]
            seen = set()
            for p in chart_paths or ["resources"]:
                if "{container}" in p:
                    parent = _exists(inv, r.file, r.doc, r.path + _dotted(p.split(".{container}")[0]))
                    names = [k for k, v in parent.items() if isinstance(v, CommentedMap)] if isinstance(parent, CommentedMap) else []
                    paths = [_dotted(p.format(container=n)) for n in names]
                else:
                    paths = [_dotted(p)]
                for rel in paths:
                    if rel not in seen and isinstance(_exists(inv, r.file, r.doc, r.path + rel), CommentedMap):
                        seen.add(rel)
                        out.append((f"{hr.ref} {'.'.join(map(str, rel))}", Target(r.file, r.doc, r.path + rel, f"chart {hr.chart}")))
    for m in inv.manifests:
        for section in ("containers", "initContainers"):
            seq = _exists(inv, m.file, m.doc, m.pod_spec + (section,))
            if not isinstance(seq, CommentedSeq):
                continue
            for i, c in enumerate(seq):
                if isinstance(c, CommentedMap) and isinstance(c.get("resources"), CommentedMap):
                    out.append((f"{m.kind} {m.namespace or '?'}/{m.name} {c.get('name')}",
                                Target(m.file, m.doc, m.pod_spec + (section, i, "resources"), m.kind)))
    return [(label, t) for label, t in out if isinstance(_unshared(inv, t), Target)]
