"""Discovery: what in a GitOps checkout could size a container.

Reads every YAML file once and indexes Flux HelmReleases (every apiVersion
still in Git), the chart each one installs, its values (inline and from
kustomize-generated ConfigMaps), plain workload manifests (including kustomize
patches) and the namespaces that kustomizations and Flux Kustomizations give
files that set none.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.gitops.config import GitOpsConfig
from bot.gitops.yamldoc import (MAX_FILE_BYTES, YamlFile, YamlFileError, embedded_key, get_path, inner_text,
                                 literal_span, parse_documents, reach_counts)
from bot.safefs import PathRefused, read_inside, repo_relative

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")
POD_SPEC = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
SKIP_DIRS = {".git", "node_modules", ".venv", "vendor"}


@dataclass
class ValuesRoot:
    file: str
    doc: int
    path: tuple  # where the values mapping sits in that document (() for a values file)


@dataclass
class HelmRelease:
    file: str
    doc: int
    name: str
    namespace: str | None
    release_name: str
    chart: str
    version: str
    values: list[ValuesRoot] = field(default_factory=list)  # inline first: it wins over valuesFrom in Flux
    target_paths: list[str] = field(default_factory=list)
    # "flux" (a HelmRelease: the snapshot's Flux labels name it), "kustomize" (a kustomization's helmCharts
    # entry) or "argocd" (an Application's Helm source): the last two are found by namespace and rendered name
    source: str = "flux"

    @property
    def ref(self) -> str:
        return f"{self.namespace or '?'}/{self.name}"

    @property
    def what(self) -> str:
        kind = {"flux": "HelmRelease", "kustomize": "kustomize helmCharts release", "argocd": "Argo CD Application"}[self.source]
        return f"{kind} {self.ref}"


@dataclass
class Manifest:
    file: str
    doc: int
    kind: str
    name: str
    namespace: str | None
    pod_spec: tuple
    is_patch: bool


@dataclass
class Inventory:
    root: Path
    files: dict[str, YamlFile]
    helmreleases: list[HelmRelease]
    manifests: list[Manifest]
    skipped: list[str]
    config: GitOpsConfig
    _reach: dict = field(default_factory=dict, repr=False)
    _pending: dict = field(default_factory=dict, repr=False)  # rel → text of files not parsed yet (lazy)
    _ctx: tuple = field(default=(), repr=False)
    _indexed: set = field(default_factory=set, repr=False)
    _words: dict | None = field(default=None, repr=False)  # word → pending files that contain it
    refused: dict = field(default_factory=dict, repr=False)  # rel → why it was not read (path gate, size, encoding)
    _mentions: dict = field(default_factory=dict, repr=False)  # name → files that mention it but were refused

    def _load(self, rel: str) -> YamlFile | None:
        if rel in self.files:
            return self.files[rel]
        try:
            self.files[rel] = YamlFile.load(self.root / rel, rel, self.root)
        except (YamlFileError, OSError) as exc:
            self.skipped.append(str(exc))
            self.refused[rel] = str(exc)
            return None
        return self.files[rel]

    def _context(self) -> None:
        kustomize_ns, patches, generated = _kustomize_namespaces_and_patches(self.files)
        self._ctx = (kustomize_ns, patches, generated, _flux_namespaces(self.files), _oci_charts(self.files))

    def _index(self, rels: list[str]) -> None:
        kustomize_ns, patches, generated, flux_ns, oci = self._ctx
        for rel in rels:
            if rel in self._indexed or rel not in self.files:
                continue
            self._indexed.add(rel)
            folder = str(PurePosixPath(rel).parent)
            for i, d in enumerate(self.files[rel].docs):
                if not isinstance(d, CommentedMap):
                    continue
                kind = d.get("kind")
                api = str(d.get("apiVersion", ""))
                meta = d.get("metadata") if isinstance(d.get("metadata"), CommentedMap) else {}
                name = _s(meta.get("name"))
                if PurePosixPath(rel).name in KUSTOMIZATION_FILES:
                    if isinstance(d.get("helmCharts"), CommentedSeq):
                        self._add_releases(_kustomize_charts(rel, i, d, _namespace_for(rel, None, kustomize_ns, flux_ns)))
                    self._inline_patches(rel, i, d)
                if not name:
                    continue
                ns = _namespace_for(rel, _s(meta.get("namespace")), kustomize_ns, flux_ns)
                if kind == "Application" and api.startswith("argoproj.io/"):
                    self._add_releases(_argo_releases(rel, i, d, name, self.root, lambda path, rel=rel, i=i: self._embed(rel, i, path)))
                elif kind == "HelmRelease" and api.startswith("helm.toolkit.fluxcd.io/"):
                    hr = _helmrelease(rel, i, d, name, ns, oci, generated, folder)
                    self.helmreleases.append(hr)
                    for root in hr.values:
                        self.need_file(root.file)
                elif kind in WORKLOAD_KINDS:
                    self.manifests.append(Manifest(rel, i, kind, name, ns, POD_SPEC[kind], rel in patches))

    def _embed(self, rel: str, doc: int, path: tuple) -> str | None:
        """Parse the YAML inside the literal block scalar at ``path`` as a file of its own (see yamldoc);
        None when it is not a literal block, does not parse, or its text is not exactly the value."""
        key = embedded_key(rel, doc, path)
        if key in self.files:
            return key
        yf = self.files[rel]
        lines = yf.text.splitlines(keepends=True)
        try:
            inner = inner_text(lines, literal_span(lines, yf.docs[doc], path))
            value = get_path(yf.docs[doc], path)
            if inner.replace("\r\n", "\n").rstrip("\n") != value.replace("\r\n", "\n").rstrip("\n"):
                return None
            self.files[key] = YamlFile(yf.path, key, inner, parse_documents(inner, key))
        except YamlFileError:
            return None
        return key

    def _inline_patches(self, rel: str, i: int, d: CommentedMap) -> None:
        """A kustomization's inline `patches[].patch` (a strategic-merge patch as text, often over a remote
        base that is not in Git): indexed like a patch file."""
        for k, p in enumerate(d.get("patches") or []):
            if isinstance(p, CommentedMap) and isinstance(p.get("patch"), str):
                key = self._embed(rel, i, ("patches", k, "patch"))
                if key:
                    self._ctx[1].add(key)
                    self._index([key])

    def _add_releases(self, releases: list[HelmRelease]) -> None:
        for hr in releases:
            self.helmreleases.append(hr)
            for root in hr.values:
                self.need_file(root.file)

    def need(self, *names: str) -> None:
        """Parse (once) every not-yet-parsed file that mentions one of these names as a whole word."""
        if not self._pending:
            return
        if self._words is None:
            self._words = {}
            for rel, text in self._pending.items():
                for word in set(_WORD.findall(text)):
                    self._words.setdefault(word, set()).add(rel)
        hits = sorted({rel for n in names if n for rel in self._words.get(n, ()) if rel in self._pending})
        for rel in hits:
            del self._pending[rel]
            if self._load(rel) is None:
                for n in names:
                    if n and rel in self._words.get(n, ()):
                        self._mentions.setdefault(n, []).append(rel)
        self._index(hits)

    def refusals_for(self, name: str) -> str:
        """Why files that mention ``name`` were not read ("" when none were refused)."""
        rels = list(dict.fromkeys(self._mentions.get(name, ())))  # a file is listed once per name it mentions
        # Files never read at all (symlinks, special files) can only be matched by their path.
        rels += [rel for rel in self.refused if rel not in rels and name in _WORD.findall(rel)]
        return "; ".join(self.refused[rel] for rel in rels if rel in self.refused)

    def need_file(self, rel: str) -> None:
        if rel in self._pending:
            del self._pending[rel]
        self._load(rel)

    def doc(self, file: str, doc: int) -> Any:
        return self.files[file].docs[doc]

    def reach(self, file: str, doc: int) -> dict[int, int]:
        key = (file, doc)
        if key not in self._reach:
            self._reach[key] = reach_counts(self.doc(file, doc))
        return self._reach[key]


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _walk(root: Path, config: GitOpsConfig) -> list[str]:
    out = []
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        folder = os.path.relpath(dirpath, top).replace(os.sep, "/")
        prefix = "" if folder == "." else folder + "/"
        for name in sorted(filenames):
            if not name.endswith((".yaml", ".yml")):
                continue
            rel = prefix + name
            if config.include and not any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in config.include):
                continue
            if any(fnmatch.fnmatch(rel, p) for p in config.exclude):
                continue
            out.append(rel)
    # .github/rightsizer policy files are not manifests
    return [f for f in out if not f.startswith(".github/")]


def _kustomize_namespaces_and_patches(files: dict[str, YamlFile]) -> tuple[dict[str, str], set[str], dict[str, list[str]]]:
    """Per folder, the namespace a kustomization.yaml sets; the files used as patches; generated ConfigMap values files."""
    namespaces: dict[str, str] = {}
    patches: set[str] = set()
    generated: dict[str, list[str]] = {}
    for rel, yf in files.items():
        if PurePosixPath(rel).name not in ("kustomization.yaml", "kustomization.yml"):
            continue
        for d in yf.docs:
            if not isinstance(d, CommentedMap):
                continue
            folder = str(PurePosixPath(rel).parent)
            if _s(d.get("namespace")):
                namespaces[folder] = d["namespace"]
            for p in (d.get("patches") or []) + (d.get("patchesStrategicMerge") or []):
                path = p.get("path") if isinstance(p, CommentedMap) else p
                if isinstance(path, str) and _in_repo(folder, path):
                    patches.add(_in_repo(folder, path))
            for gen in d.get("configMapGenerator") or []:
                if not isinstance(gen, CommentedMap) or not _s(gen.get("name")):
                    continue
                for f in gen.get("files") or []:
                    if isinstance(f, str):
                        src = _in_repo(folder, f.split("=", 1)[-1])
                        if src:  # a path that leaves the repository is never read (nor written)
                            generated.setdefault(f"{folder}::{gen['name']}", []).append(src)
    return namespaces, patches, generated


def _in_repo(folder: str, path: str) -> str | None:
    """``path`` (relative to ``folder``) as a repository path, or None when it leaves the repository."""
    if path.startswith("/"):
        return None
    try:
        return repo_relative(f"{folder}/{path}")
    except PathRefused:
        return None


def _flux_namespaces(files: dict[str, YamlFile]) -> dict[str, str]:
    """Folder → targetNamespace of the Flux Kustomization that applies it."""
    out = {}
    for yf in files.values():
        for d in yf.docs:
            if isinstance(d, CommentedMap) and d.get("kind") == "Kustomization" and str(d.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io"):
                spec = d.get("spec") or {}
                if _s(spec.get("path")) and _s(spec.get("targetNamespace")):
                    out[os.path.normpath(spec["path"].lstrip("./"))] = spec["targetNamespace"]
    return out


def _namespace_for(rel: str, meta_ns: str | None, kustomize_ns: dict[str, str], flux_ns: dict[str, str]) -> str | None:
    if meta_ns:
        return meta_ns
    folder = str(PurePosixPath(rel).parent)
    while True:
        if folder in kustomize_ns:
            return kustomize_ns[folder]
        if folder in flux_ns:
            return flux_ns[folder]
        if folder in ("", "."):
            return None
        folder = str(PurePosixPath(folder).parent)


def _oci_charts(files: dict[str, YamlFile]) -> dict[str, tuple[str, str, str]]:
    """OCIRepository / HelmChart name → (file, chart name from its URL, tag)."""
    out = {}
    for rel, yf in files.items():
        for d in yf.docs:
            if isinstance(d, CommentedMap) and d.get("kind") == "OCIRepository":
                url = _s((d.get("spec") or {}).get("url")) or ""
                tag = _s(((d.get("spec") or {}).get("ref") or {}).get("tag")) or ""
                name = _s((d.get("metadata") or {}).get("name"))
                if name:
                    out.setdefault(name, (rel, url.rstrip("/").rsplit("/", 1)[-1], tag))
                    if str(PurePosixPath(rel).parent):
                        out[f"{PurePosixPath(rel).parent}::{name}"] = (rel, url.rstrip("/").rsplit("/", 1)[-1], tag)
    return out


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KIND = re.compile(r"^kind:[ \t]*[\"']?(\w+)", re.M)
# Kinds whose files are read up front in a lazy inventory: few, and they give namespaces, patches, charts.
_CONTEXT_KINDS = {"Kustomization", "OCIRepository", "Component", "Application"}
_LAZY_KINDS = frozenset(WORKLOAD_KINDS) | {"HelmRelease"}
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml")


def discover(repo: Path, config: GitOpsConfig | None = None, *, lazy: bool = False) -> Inventory:
    """Index the repository. Eager: parse every YAML file now. Lazy: parse only the files that give
    context (kustomizations, OCIRepositories) now, and a HelmRelease or manifest file the first time a
    lookup for a name it contains asks for it — so the work grows with the PR, not with the repo."""
    config = config or GitOpsConfig()
    repo = Path(repo)
    inv = Inventory(repo, {}, [], [], [], config)
    texts: dict[str, str] = {}
    for rel in _walk(repo, config):
        try:
            raw = read_inside(repo, rel, MAX_FILE_BYTES)
        except PathRefused as exc:
            reason = str(exc)
            if "over the limit" in reason:
                # Kept pending (by its first bytes) so a lookup that needs it can say why it was not used.
                with open(repo / rel, "rb") as fh:
                    texts[rel] = fh.read(MAX_FILE_BYTES).decode("utf-8", "replace")
                continue
            inv.skipped.append(reason)
            inv.refused[rel] = reason
            continue
        text = raw.decode("utf-8", "replace")
        kinds = set(_KIND.findall(text))
        name = rel.rpartition("/")[2]
        if lazy and not (kinds & _CONTEXT_KINDS or name.startswith("kustomization.")):
            if kinds & _LAZY_KINDS or "values" in name:
                texts[rel] = text
            continue
        inv._load(rel)
    inv._context()
    inv._pending = texts
    inv._index(list(inv.files))
    return inv


def _helmrelease(rel: str, i: int, d: CommentedMap, name: str, ns: str | None, oci: dict, generated: dict, folder: str) -> HelmRelease:
    spec = d.get("spec") if isinstance(d.get("spec"), CommentedMap) else CommentedMap()
    chart, version = "", ""
    chart_spec = (spec.get("chart") or {}).get("spec") if isinstance(spec.get("chart"), CommentedMap) else None
    if isinstance(chart_spec, CommentedMap):
        chart = _s(chart_spec.get("chart")) or ""
        version = str(chart_spec.get("version") or "")
    elif isinstance(spec.get("chartRef"), CommentedMap):
        ref_name = _s(spec["chartRef"].get("name")) or ""
        found = oci.get(f"{folder}::{ref_name}") or oci.get(ref_name)
        if found:
            chart, version = found[1], found[2]
        else:
            chart = ref_name
    chart = chart.rsplit("/", 1)[-1]
    # Flux: releaseName defaults to [targetNamespace-]name
    release_name = _s(spec.get("releaseName")) or (f"{spec['targetNamespace']}-{name}" if _s(spec.get("targetNamespace")) else name)
    values: list[ValuesRoot] = []
    if isinstance(spec.get("values"), CommentedMap):
        values.append(ValuesRoot(rel, i, ("spec", "values")))
    target_paths = []
    for vf in spec.get("valuesFrom") or []:
        if not isinstance(vf, CommentedMap):
            continue
        if _s(vf.get("targetPath")):
            target_paths.append(vf["targetPath"])
            continue
        if vf.get("kind") == "ConfigMap" and _s(vf.get("name")):
            for src in generated.get(f"{folder}::{vf['name']}", []):
                values.append(ValuesRoot(src, 0, ()))
    return HelmRelease(rel, i, name, ns, release_name, chart, version, values, target_paths)


def _kustomize_charts(rel: str, i: int, d: CommentedMap, namespace: str | None) -> list[HelmRelease]:
    """A kustomization's `helmCharts`: each entry is a release (kustomize's rules: releaseName defaults to
    the chart's name, `valuesInline` wins over `additionalValuesFiles`, which win over `valuesFile`)."""
    folder = str(PurePosixPath(rel).parent)
    out = []
    for k, entry in enumerate(d["helmCharts"]):
        if not isinstance(entry, CommentedMap) or not _s(entry.get("name")):
            continue
        chart = entry["name"]
        values: list[ValuesRoot] = []
        if isinstance(entry.get("valuesInline"), CommentedMap):
            values.append(ValuesRoot(rel, i, ("helmCharts", k, "valuesInline")))
        files = [f for f in (entry.get("additionalValuesFiles") or []) if isinstance(f, str)][::-1]
        files += [entry["valuesFile"]] if _s(entry.get("valuesFile")) else []
        values += [ValuesRoot(os.path.normpath(os.path.join(folder, f)), 0, ()) for f in files]
        release = _s(entry.get("releaseName")) or chart
        out.append(HelmRelease(rel, i, release, _s(entry.get("namespace")) or namespace, release, chart,
                               str(entry.get("version") or ""), values, source="kustomize"))
    return out


def _argo_releases(rel: str, i: int, d: CommentedMap, name: str, root: Path, embed: Any) -> list[HelmRelease]:
    """An Argo CD Application's Helm sources: `helm.valuesObject` (wins), then `helm.values` (YAML in a literal
    block string, edited as its own text), then `helm.valueFiles` kept in this repository (a path source's own
    folder, or `$ref/...` of a `ref` source), the later file winning."""
    spec = d.get("spec") if isinstance(d.get("spec"), CommentedMap) else CommentedMap()
    dest = spec.get("destination") if isinstance(spec.get("destination"), CommentedMap) else {}
    if isinstance(spec.get("source"), CommentedMap):
        sources = [(("spec", "source"), spec["source"])]
    else:
        sources = [(("spec", "sources", k), s) for k, s in enumerate(spec.get("sources") or []) if isinstance(s, CommentedMap)]
    refs = {s["ref"]: s for _, s in sources if _s(s.get("ref"))}
    out = []
    for path, src in sources:
        helm = src.get("helm")
        if not isinstance(helm, CommentedMap) and not _s(src.get("chart")):
            continue
        helm = helm if isinstance(helm, CommentedMap) else CommentedMap()
        values: list[ValuesRoot] = []
        if isinstance(helm.get("valuesObject"), CommentedMap):
            values.append(ValuesRoot(rel, i, path + ("helm", "valuesObject")))
        inline = embed(path + ("helm", "values")) if isinstance(helm.get("values"), str) else None
        if inline:
            values.append(ValuesRoot(inline, 0, ()))
        for vf in [f for f in (helm.get("valueFiles") or []) if isinstance(f, str)][::-1]:
            if vf.startswith("$"):
                ref, _, sub = vf[1:].partition("/")
                file = sub if ref in refs else None
            else:
                file = os.path.normpath(os.path.join(_s(src.get("path")) or "", vf)) if _s(src.get("path")) else None
            if file and (root / file).is_file():
                values.append(ValuesRoot(file, 0, ()))
        chart = _s(src.get("chart")) or PurePosixPath(_s(src.get("path")) or "").name
        release = _s(helm.get("releaseName")) or name
        hr = HelmRelease(rel, i, release, _s(dest.get("namespace")), release, chart,
                         str(src.get("targetRevision") or ""), values, source="argocd")
        if isinstance(helm.get("values"), str) and not inline:
            hr.target_paths.append("helm.values (a string that is not a plain literal block: not edited)")
        out.append(hr)
    return out
