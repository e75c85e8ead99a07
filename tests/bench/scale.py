"""Speed at scale: a synthetic cluster and GitOps repo, timed from snapshot file to patched files and PR body.

Each size runs in a fresh subprocess so its peak RSS (getrusage) is its own. Containers come 2–3 to a
HelmRelease (app-template 4.x, `spec.values.controllers.<app>.containers.<c>.resources`), 25 to a
node on 200 nodes (fewer for the small sizes), usage drawn so that about a third are over-provisioned,
a third under, a third about right.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HR = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {app}
  namespace: {ns}
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: app-template
    namespace: flux-system
  values:
    controllers:
      {app}:
        containers:
{containers}
    service:
      app:
        controller: {app}
        ports:
          http:
            port: 8080
"""
CONTAINER = """          {name}:
            image:
              repository: ghcr.io/example/{app}-{name}
              tag: 1.2.3
            resources:
              requests:
                cpu: {cpu}m
                memory: {mem}Mi
              limits:
                memory: {lim}Mi
"""
OCI = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: app-template
  namespace: flux-system
spec:
  interval: 12h
  ref:
    tag: 4.4.0
  url: oci://ghcr.io/bjw-s-labs/helm/app-template
"""


def generate(root: Path, containers: int, seed: int = 1) -> Path:
    """Writes repo/ and snapshot.json under root; returns the snapshot path."""
    rnd = random.Random(seed)
    repo = root / "repo"
    (repo / "kubernetes" / "flux").mkdir(parents=True)
    (repo / "kubernetes" / "flux" / "oci.yaml").write_text(OCI)
    nodes = max(3, min(200, containers // 25))
    workloads, made, i = [], 0, 0
    while made < containers:
        k = min(rnd.choice((2, 3)), containers - made)
        ns, app = f"ns{i % 40}", f"app{i}"
        node = f"node{i % nodes}"
        blocks, conts = [], []
        for j in range(k):
            cpu, mem = rnd.choice((50, 100, 250, 500)), rnd.choice((128, 256, 512, 1024))
            ratio = rnd.choice((0.2, 0.5, 0.9, 1.4))
            blocks.append(CONTAINER.format(name=f"c{j}", app=app, cpu=cpu, mem=mem, lim=mem * 2))
            u_cpu, u_mem = cpu / 1000 * ratio, mem * 2**20 * ratio
            conts.append({
                "name": f"c{j}", "requests": {"cpu": f"{cpu}m", "memory": f"{mem}Mi"}, "limits": {"memory": f"{mem * 2}Mi"},
                "usage": {"cpu": {"p50": u_cpu * .5, "p90": u_cpu * .8, "p95": u_cpu, "p99": u_cpu * 1.1, "max": u_cpu * 1.5},
                          "memory": {"p50": u_mem * .9, "p90": u_mem * .95, "p95": u_mem, "p99": u_mem * 1.02, "max": u_mem * 1.05}},
                "coverageSeconds": 14 * 86400, "restarts": 0, "oomKills": 0,
            })
        d = repo / "kubernetes" / "apps" / ns / app
        d.mkdir(parents=True)
        (d / "helmrelease.yaml").write_text(HR.format(app=app, ns=ns, containers="".join(blocks)))
        workloads.append({"kind": "Deployment", "namespace": ns, "name": app, "replicas": 1,
                          "helmRelease": {"name": app, "namespace": ns},
                          "pods": [{"name": f"{app}-0", "node": node}], "containers": conts})
        made += k
        i += 1
    snap = {"version": 1, "collectedAt": "2026-11-22T00:00:00Z", "window": "14d",
            "nodes": [{"name": f"node{n}", "allocatable": {"cpu": "16", "memory": "64Gi"}} for n in range(nodes)],
            "workloads": workloads}
    path = root / "snapshot.json"
    path.write_text(json.dumps(snap))
    return path


def measure(snapshot: Path, repo: Path, max_changes: int = 50) -> dict:
    """One run in this process: phases timed with perf_counter, peak RSS from getrusage."""
    from bot.engine.plan import build_plan
    from bot.gitops import apply
    from bot.pipeline import plan_for
    from bot.policy import default_policy
    from bot.report.markdown import FileLines, render_pr_body
    from bot.snapshot import load_snapshot

    t = {"start": time.perf_counter()}
    snap = load_snapshot(snapshot)
    t["snapshot"] = time.perf_counter()
    policy = default_policy().with_max_changes(max_changes)
    build_plan(snap, policy)
    t["plan"] = time.perf_counter()
    plan, mapping, unmapped = plan_for(snap, policy, repo)  # plans again, then discovers and maps: the real path
    t["discover"] = time.perf_counter() - (t["plan"] - t["snapshot"])
    result = apply(repo, mapping, write=False)
    t["patch"] = time.perf_counter()
    body = render_pr_body(plan, [FileLines(e.path, e.lines) for e in result.edits])
    t["body"] = time.perf_counter()
    phases = ["snapshot", "plan", "discover", "patch", "body"]
    prev, out = t["start"], {}
    for p in phases:
        out[p] = t[p] - prev
        prev = t[p]
    out["total"] = t["body"] - t["start"]
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["containers"] = sum(len(w.containers) for w in snap.workloads)
    out["files"] = sum(1 for _ in repo.rglob("*.yaml"))
    out["selected"] = len(plan.selected)
    out["edits"] = len(result.edits)
    out["unmapped"] = len(unmapped)
    out["body_chars"] = len(body)
    return out


def run_size(containers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        snap = generate(Path(tmp), containers)
        code = ("import json,sys; from tests.bench.scale import measure; from pathlib import Path; "
                f"print(json.dumps(measure(Path({str(snap)!r}), Path({str(Path(tmp) / 'repo')!r}))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[2])
        return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> str:
    sizes = [int(a) for a in argv] or [500, 5000, 20000]
    rows = ["| containers | YAML files | snapshot load | plan | discover + map | patch | PR body | total | peak RSS |",
            "|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        r = run_size(n)
        rows.append(f"| {r['containers']:,} | {r['files']:,} | {r['snapshot']:.2f} s | {r['plan']:.2f} s | {r['discover']:.2f} s | "
                    f"{r['patch']:.2f} s | {r['body']:.2f} s | **{r['total']:.1f} s** | {r['peak_mb']:.0f} MB |")
        print(rows[-1], file=sys.stderr)
    return "\n".join(rows) + "\n"
