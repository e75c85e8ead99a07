"""A real repository at demo size: `rightsizer plan --out --write` on a ../shared/corpus repo.

The snapshot is made from the repo itself: every app-template container and plain-manifest container with a
`resources:` block becomes a running container whose usage is its request times 0.3, 0.6 or 1.5 (so nearly all
change), one pod each, spread over 6 roomy nodes so no budget blocks. Only containers the GitOps mapping
finds are kept, so every change is patched: the run patches as many files as the repo allows.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

from tests.bench.scale import HEADER, floor, measure, row

# ../shared/corpus next to the checkout (as tests/gitops/corpus.py), or next to the folder of worktrees.
CORPUS = next((p / "shared" / "corpus" for p in Path(__file__).resolve().parents[2:5] if (p / "shared" / "corpus").is_dir()),
              Path(__file__).resolve().parents[3] / "shared" / "corpus")
DEFAULT_REPO = "gavinmcfall__home-ops"  # the most sizing blocks in the corpus (147: tests/gitops/test_corpus.py)


def _candidates(inv):
    """(kind, namespace, workload, container, init, helm release, target) for every container Git sizes."""
    from ruamel.yaml.comments import CommentedMap

    from bot.gitops.mapping import _exists

    for hr in inv.helmreleases:
        for r in hr.values:
            ctrls = _exists(inv, r.file, r.doc, r.path + ("controllers",))
            if not isinstance(ctrls, CommentedMap):
                continue
            for c, ctrl in ctrls.items():
                if not isinstance(ctrl, CommentedMap):
                    continue
                workload = hr.release_name if str(c) in (hr.release_name, "main") else f"{hr.release_name}-{c}"
                for section in ("containers", "initContainers"):
                    conts = ctrl.get(section)
                    for name, cont in (conts.items() if isinstance(conts, CommentedMap) else ()):
                        if isinstance(cont, CommentedMap) and isinstance(cont.get("resources"), CommentedMap):
                            yield ("Deployment", hr.namespace or "default", workload, str(name), section == "initContainers",
                                   hr, (r.file, r.doc, r.path + ("controllers", c, section, name, "resources")))
    for m in inv.manifests:
        if m.kind not in ("Deployment", "StatefulSet", "DaemonSet") or m.is_patch:
            continue
        for section in ("containers", "initContainers"):
            seq = _exists(inv, m.file, m.doc, m.pod_spec + (section,))
            for i, cont in enumerate(seq if isinstance(seq, list) else ()):
                if isinstance(cont, CommentedMap) and isinstance(cont.get("resources"), CommentedMap) and cont.get("name"):
                    yield (m.kind, m.namespace or "default", m.name, str(cont["name"]), section == "initContainers",
                           None, (m.file, m.doc, m.pod_spec + (section, i, "resources")))


def snapshot_for(repo: Path, seed: int = 1) -> dict:
    from bot.gitops import discover, map_changes
    from bot.gitops.patch import read_spec
    from bot.model import ContainerChange, HelmReleaseRef, Resources, ResourceSpec

    inv = discover(repo)
    rnd = random.Random(seed)
    workloads: dict[tuple, dict] = {}
    for kind, ns, name, cname, init, hr, (file, doc, block) in _candidates(inv):
        got = read_spec(inv.files[file].docs[doc], block)
        cpu, mem = got[("requests", "cpu")] or 100, got[("requests", "memory")] or 128 * 2**20
        spec = ResourceSpec(Resources(cpu, mem), Resources(got[("limits", "cpu")], got[("limits", "memory")]))
        ref = HelmReleaseRef(hr.name, ns) if hr else None
        change = ContainerChange(ns, kind, name, cname, spec, spec, init=init, helm_release=ref)
        if map_changes(inv, [change]).unmapped:
            continue
        w = workloads.setdefault((ns, kind, name), {
            "kind": kind, "namespace": ns, "name": name, "replicas": 1,
            "pods": [{"name": f"{name}-0", "node": f"node{len(workloads) % 6}"}], "containers": [],
            **({"helmRelease": {"name": ref.name, "namespace": ref.namespace}} if ref else {}),
        })
        if any(c["name"] == cname for c in w["containers"]):
            continue
        ratio = rnd.choice((0.3, 0.6, 1.5))
        u_cpu, u_mem = cpu / 1000 * ratio, mem * ratio
        w["containers"].append({
            "name": cname, "init": init,
            "requests": {"cpu": f"{cpu}m", "memory": str(mem)},
            **({"limits": {k: (f"{v}m" if k == "cpu" else str(v)) for k, v in
                           (("cpu", spec.limits.cpu), ("memory", spec.limits.memory)) if v}} if spec.limits.cpu or spec.limits.memory else {}),
            "usage": {"cpu": {"p50": u_cpu * .5, "p90": u_cpu * .8, "p95": u_cpu, "p99": u_cpu * 1.1, "max": u_cpu * 1.5},
                      "memory": {"p50": u_mem * .9, "p90": u_mem * .95, "p95": u_mem, "p99": u_mem * 1.02, "max": u_mem * 1.05}},
            "coverageSeconds": 14 * 86400, "restarts": 0, "oomKills": 0,
        })
    return {"version": 1, "collectedAt": "2026-11-22T00:00:00Z", "window": "14d",
            "nodes": [{"name": f"node{n}", "allocatable": {"cpu": "64", "memory": "256Gi"}} for n in range(6)],
            "workloads": list(workloads.values())}


def _writable(root: Path) -> None:
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def main(argv: list[str], runs: int = 1) -> str:
    name = argv[0] if argv else DEFAULT_REPO
    source = CORPUS / name
    if not source.is_dir():
        return f"the shared corpus is not here ({source}): nothing measured\n"
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(tmp) / "snapshot.json"
        snap.write_text(json.dumps(snapshot_for(source)))
        for k in range(runs):
            work = Path(tmp) / f"run{k}"
            shutil.copytree(source, work / "repo", symlinks=True)
            _writable(work / "repo")  # the shared corpus is read-only; a user's checkout is not
            r = measure(snap, work / "repo", work / "out", max_changes=1000)
            if best is None or r["total"] < best["total"]:
                best = r
            shutil.rmtree(work)
        best["floor"] = min(floor(snap, source, best["patched"]) for _ in range(runs))
    best["cluster"] = name
    return HEADER + row(best) + f"\n\n{best['edits']} files patched, {best['selected']} changes; quietest of {runs} run(s).\n"
