"""Mapping: from a running container to the one `resources:` block in Git that sizes it.

Rules, in order (the first that applies decides; nothing is guessed silently):
1. an explicit `gitops.mappings` entry in the policy;
2. the workload's HelmRelease (from the Flux labels the snapshot carries), then
   - bjw-s app-template 2.x+: `controllers.<c>.containers|initContainers.<name>`, where the
     controller is the one whose rendered name is the workload's: `<release>` for a
     controller named like the release, `main`, or the only one; `<release>-<c>` otherwise;
   - app-template 1.x: the root `resources`, for the main container (named the release) only;
   - a `gitops.charts` policy entry naming the chart (and the workload/container), else the
     component of the chart table (bot/gitops/charts.py) that names the workload and container;
   - any other chart maps nothing: the reason gives the policy snippet to add (a root
     `resources` is never assumed to be the container's: cilium's is the agent's, not the operator's);
   two containers landing on one block are both refused (one value cannot fit both);
   inline `spec.values` win over values files from `valuesFrom` (as in Flux);
3. a plain manifest with the workload's kind and name (and namespace, from the
   file, its kustomization or the Flux Kustomization), preferring a kustomize
   patch that sets the container's resources over the base it patches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.gitops.charts import chart_components, component_for, fullnames, resolve_items
from bot.gitops.discover import HelmRelease, Inventory, Manifest
from bot.gitops.yamldoc import get_path, shared_along
from bot.model import ContainerChange

APP_TEMPLATE = ("app-template",)


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
    parsed: dict = field(default_factory=dict, repr=False)  # rel → YamlFile the mapping read: apply reuses its parse
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
        flux = [h for h in inv.helmreleases if h.source == "flux"]
        exact = [h for h in flux if h.name == ref.name and h.namespace == ref.namespace]
        loose = [h for h in flux if h.name == ref.name and h.namespace is None]
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
        # app-template 1.x: the main container, named the release's full name, is sized at the root; a sidecar
        # (`additionalContainers`) or another workload is not
        names = fullnames(release_name := hr.release_name, "app-template", _first(inv, roots, ()))
        if change.workload not in names + (release_name,) or change.container not in names + (release_name,) or change.init:
            return (f"{hr.what} (app-template 1.x) sizes only its main container ({release_name}) at the root "
                    f"`resources`, not {'init container' if change.init else 'container'} {change.container} of {change.workload}")
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + ("image",)), CommentedMap) or _exists(inv, r.file, r.doc, r.path + ("resources",)) is not None:
                return Target(r.file, r.doc, r.path + ("resources",), f"{hr.what} (app-template 1.x, root resources)")
        return "app-template values without controllers or a root image"
    release, workload = hr.release_name, change.workload
    names = sorted(controllers)
    candidates = []
    if workload == release:
        candidates += [c for c in names if c == release] or [c for c in names if c == "main"] or (names if len(names) == 1 else [])
    candidates += [c for c in names if workload == f"{release}-{c}"]
    candidates += [c for c in names if workload == c and c not in candidates]
    if not candidates:
        return f"no controller of {hr.what} renders as {change.kind} {workload} (controllers: {', '.join(names)})"
    ctrl = candidates[0]
    section = "initContainers" if change.init else "containers"
    for r in roots:
        key = _container_key(_exists(inv, r.file, r.doc, r.path + ("controllers", ctrl, section)), change.container)
        container = _exists(inv, r.file, r.doc, r.path + ("controllers", ctrl, section, key))
        if isinstance(container, CommentedMap):
            block = r.path + ("controllers", ctrl, section, key, "resources")
            how = f"{hr.what} (app-template), controllers.{ctrl}.{section}.{key}"
            warn = ()
            if not isinstance(container.get("resources"), CommentedMap):
                default = _exists(inv, r.file, r.doc, r.path + ("defaultContainerOptions", "resources"))
                if default is not None:
                    how += " (a container-level block; the shared defaultContainerOptions stay as they are)"
            return Target(r.file, r.doc, block, how, warn)
    return f"container {change.container} is not under controllers.{ctrl}.{section} of {hr.what}"


def _container_key(containers: Any, name: str) -> str:
    """The key of the app-template container that runs as ``name``: the one whose `nameOverride` says so,
    else the one keyed by it (a container renders under its key unless renamed)."""
    if isinstance(containers, CommentedMap):
        for key, c in containers.items():
            if isinstance(c, CommentedMap) and c.get("nameOverride") == name:
                return str(key)
    return name


def _values_blocks(inv: Inventory, roots: list) -> list[str]:
    """Dotted paths of the `resources` mappings in a release's values (to offer in a snippet)."""
    out: list[str] = []

    def walk(node: Any, path: tuple) -> None:
        if len(out) >= 8 or len(path) > 12:
            return
        if isinstance(node, CommentedMap):
            for k, v in node.items():
                if k == "resources" and isinstance(v, CommentedMap):
                    out.append(".".join(map(str, path + (k,))))
                else:
                    walk(v, path + (k,))

    for r in roots:
        walk(_exists(inv, r.file, r.doc, r.path), ())
    return list(dict.fromkeys(out))


def _snippet(inv: Inventory, hr: HelmRelease, change: ContainerChange, roots: list) -> str:
    """The exact policy entry that would map this container; the path is the user's to give."""
    blocks = _values_blocks(inv, roots)
    entry = (f"gitops: {{charts: [{{chart: {hr.chart or '?'}, workload: {change.workload}, "
             f"container: {change.container}, valuesPath: <path>.resources}}]}}")
    return f"add a mapping to the policy: `{entry}`" + (
        f" (resources blocks in its values: {', '.join(blocks)})" if blocks else "")


def _first(inv: Inventory, roots: list, path: tuple) -> Any:
    """The value at ``path`` in the first values root that has it (inline values win, as in Flux)."""
    for r in roots:
        node = _exists(inv, r.file, r.doc, r.path + path)
        if node is not None:
            return node
    return None


def _policy_paths(inv: Inventory, hr: HelmRelease, change: ContainerChange) -> tuple[str, ...]:
    return tuple(p for cp in inv.config.charts if cp.chart == hr.chart and cp.matches(change.workload, change.container)
                 for p in cp.paths)


def _chart_target(inv: Inventory, hr: HelmRelease, change: ContainerChange) -> Target | str:
    roots = [r for r in hr.values if r.file in inv.files]
    if not roots:
        return f"{hr.what} has no values in Git to patch"
    paths, source = _policy_paths(inv, hr, change), "gitops.charts"
    if not paths:
        components = chart_components(hr.chart)
        if components is None:
            return f"chart {hr.chart or '?'} of {hr.what} is not in the chart table; " + _snippet(inv, hr, change, roots)
        names = fullnames(hr.release_name, hr.chart, _exists(inv, roots[0].file, roots[0].doc, roots[0].path))
        comp = component_for(components, hr.chart, hr.version, names, change.workload, change.container, change.init)
        if comp is None:
            what = f"{'init container' if change.init else 'container'} {change.container} of {change.kind} {change.workload}"
            return f"chart {hr.chart} of {hr.what}: no component of the chart table sizes {what}; " + _snippet(inv, hr, change, roots)
        if comp.shares:
            return (f"chart {hr.chart} of {hr.what}: {comp.path} sizes {comp.shares}, not only {change.workload}/{change.container}; "
                    "one value cannot fit them all (edit it by hand, or map the container explicitly)")
        path = resolve_items(comp, names, change.workload, lambda head: _first(inv, roots, _dotted(head)))
        if path is None:
            return f"chart {hr.chart} of {hr.what}: no item of {comp.path.split('.[]')[0]} in the values renders as {change.workload}"
        paths, source = (path,), "chart table"
    for p in paths:
        rel = _dotted(p.format(container=change.container))
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + rel), CommentedMap):
                return Target(r.file, r.doc, r.path + rel, f"{hr.what} (chart {hr.chart}, {source}), {'.'.join(map(str, rel))}")
        for r in roots:
            if isinstance(_exists(inv, r.file, r.doc, r.path + rel[:-1]), CommentedMap) or len(rel) == 1:
                return Target(r.file, r.doc, r.path + rel, f"{hr.what} (chart {hr.chart}, {source}), {'.'.join(map(str, rel))} (added)")
    return (f"chart {hr.chart} of {hr.what} sizes {change.container} at {' or '.join(paths)}, "
            "whose parent is not in the values in Git (add it, or map the container explicitly)")


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


def _is_app_template(inv: Inventory, hr: HelmRelease) -> bool:
    """app-template by name, or a chart outside the table and the policy whose values have app-template's
    `controllers` (an OCI chart whose repository is not in Git): never a table chart built on it (immich)."""
    if hr.chart in APP_TEMPLATE:
        return True
    if chart_components(hr.chart) is not None or any(cp.chart == hr.chart for cp in inv.config.charts):
        return False
    return any(isinstance(_exists(inv, r.file, r.doc, r.path + ("controllers",)), CommentedMap) for r in hr.values if r.file in inv.files)


def target_for(inv: Inventory, change: ContainerChange) -> Target | str:
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
        return _release_target(inv, hr, change)
    target = _manifest_target(inv, change)
    if isinstance(target, Target):
        return target
    return _unlabelled_release_target(inv, change) or target


def _release_target(inv: Inventory, hr: HelmRelease, change: ContainerChange) -> Target | str:
    target = _app_template_target(inv, hr, change) if _is_app_template(inv, hr) else _chart_target(inv, hr, change)
    if isinstance(target, Target) and hr.target_paths:
        where = "valuesFrom targetPath" if hr.source == "flux" else "another source"
        target = Target(target.file, target.doc, target.block, target.how,
                        target.warnings + (f"{hr.ref} also takes values from {where} ({', '.join(hr.target_paths)}), which may override this",))
    return target


def _unlabelled_release_target(inv: Inventory, change: ContainerChange) -> Target | str | None:
    """A workload no Flux label names may come from a kustomize `helmCharts` entry or an Argo CD Application
    in its namespace: the one release whose chart renders it (by the chart table's names, or app-template's
    controllers) sizes it; two that could are refused; none leaves the manifest's reason."""
    found = []
    for hr in inv.helmreleases:
        if hr.source != "flux" and hr.namespace in (change.namespace, None):
            target = _release_target(inv, hr, change)
            if isinstance(target, Target):
                found.append((hr, target))
    if len(found) > 1:
        return f"{change.kind} {change.workload} could be rendered by {' or '.join(h.ref for h, _ in found)}; map it explicitly"
    return found[0][1] if found else None


def _unshared(inv: Inventory, target: Target) -> Target | str:
    anchor = shared_along(inv.doc(target.file, target.doc), target.block, inv.reach(target.file, target.doc))
    if anchor:
        return (f"its resources in {target.file} are shared through the YAML anchor &{anchor} with other places; "
                "changing them would resize those too (give this container its own block, or map it explicitly)")
    return target


def map_changes(inv: Inventory, changes: Sequence[ContainerChange]) -> MappingResult:
    result = MappingResult(parsed=inv.files)
    found: list[tuple[ContainerChange, Target]] = []
    for change in changes:
        target = target_for(inv, change)
        if isinstance(target, Target):
            target = _unshared(inv, target)
        if isinstance(target, Target):
            found.append((change, target))
        else:
            result.unmapped.append((change, target))
    # One values block that sizes two containers (a chart's DaemonSet and Deployment sharing `resources`, or
    # two mappings to one path) cannot take both values: writing one would resize the other. Refuse both.
    by_block: dict[tuple, list[ContainerChange]] = {}
    for change, target in found:
        by_block.setdefault((target.file, target.doc, target.block), []).append(change)
    for change, target in found:
        sharing = [c.ref for c in by_block[(target.file, target.doc, target.block)] if c.ref != change.ref]
        if sharing:
            result.unmapped.append((change, f"the block {'.'.join(map(str, target.block))} in {target.file} also sizes "
                                            f"{', '.join(sharing)}; one value cannot fit both (give each its own block, or map them explicitly)"))
        else:
            result.mapped.append((change, target))
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
            if _is_app_template(inv, hr):
                chart_paths = ["resources"]  # app-template 1.x
            else:
                chart_paths = [c.path for c in chart_components(hr.chart) or ()]
                chart_paths += [p for cp in inv.config.charts if cp.chart == hr.chart for p in cp.paths]
            seen = set()
            for p in chart_paths:
                if "{container}" in p:
                    parent = _exists(inv, r.file, r.doc, r.path + _dotted(p.split(".{container}")[0]))
                    names = [k for k, v in parent.items() if isinstance(v, CommentedMap)] if isinstance(parent, CommentedMap) else []
                    paths = [_dotted(p.format(container=n)) for n in names]
                elif ".[]" in p:
                    head, tail = p.split(".[]", 1)
                    items = _exists(inv, r.file, r.doc, r.path + _dotted(head))
                    paths = [_dotted(f"{head}.{i}{tail}") for i in range(len(items))] if isinstance(items, CommentedSeq) else []
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
