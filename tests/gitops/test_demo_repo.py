"""Issue 3: the homelab fixture (bot/demo/repo, shaped like seed 000's) patched end to end from a snapshot,
in a real git repository; `git diff` must show only resource lines and the one tfvars number."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.gitops import discover, map_changes
from bot.model import ContainerChange, HelmReleaseRef, Resources, ResourceSpec
from bot.pipeline import run_pipeline
from bot.policy import load_policy
from bot.snapshot import load_snapshot

DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo"
MI, GI = 2**20, 2**30


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_DATE": "2026-10-01T12:00:00Z", "GIT_COMMITTER_DATE": "2026-10-01T12:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    shutil.copytree(DEMO / "repo", r)
    (r / ".github").mkdir()
    shutil.copy(DEMO / "policy.yaml", r / ".github" / "rightsizer.yaml")
    git(r, "init", "-q")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "homelab")
    return r


def change(ns, kind, name, container, current, proposed, release=None, init=False):
    return ContainerChange(ns, kind, name, container, current, proposed, init, HelmReleaseRef(release, ns) if release else None)


def spec(cr=None, mr=None, cl=None, ml=None):
    return ResourceSpec(Resources(cr, mr), Resources(cl, ml))


def test_every_demo_container_maps_to_its_file(repo):
    snap = load_snapshot(DEMO / "snapshot.yaml")
    inv = discover(repo)
    changes = [
        change(w.namespace, w.kind, w.name, c.name, c.resources, c.resources,
               w.helm_release.name if w.helm_release else None)
        for w in snap.workloads for c in w.containers
    ]
    result = map_changes(inv, changes)
    assert not result.unmapped, result.unmapped
    where = {c.ref: (t.file, t.block[-3:]) for c, t in result.mapped}
    # the rule each layout needs, one example each
    assert where["media/immich-machine-learning/app"] == ("kubernetes/apps/media/immich/app/helmrelease.yaml", ("containers", "app", "resources"))
    assert where["home/home-assistant/main"][0] == "kubernetes/apps/home/home-assistant/app/helmrelease.yaml"  # 2.x, controllers.main
    assert where["home/mosquitto/mosquitto"] == ("kubernetes/apps/home/mosquitto/app/helmrelease.yaml", ("spec", "values", "resources"))  # 1.x
    assert where["home/node-red/app"][0] == "kubernetes/apps/home/node-red/app/helm-values.yaml"  # valuesFrom
    assert where["database/redis/redis"][0] == "kubernetes/apps/database/redis/overlays/home/resources.yaml"  # the overlay patch wins
    assert where["csi-nfs/csi-nfs-node/nfs"][1] == ("node", "resources", "nfs")  # chart table
    assert where["reloader/reloader/reloader"][1] == ("reloader", "deployment", "resources")
    assert where["default/miniflux/app"][0] == "kubernetes/apps/default/miniflux/app/helmrelease.yaml"  # namespace from kustomization


def test_snapshot_to_patched_repo(repo):
    snap = load_snapshot(DEMO / "snapshot.yaml")
    result = run_pipeline(repo, snap, None, write=True)
    scopes = {d.scope: d for d in result.drafts}
    assert set(scopes) == {"resources", "nodes"}
    changed = set(git(repo, "diff", "--name-only").split())
    assert changed == set(scopes["resources"].files) | set(scopes["nodes"].files)
    diff = git(repo, "diff", "-U0")
    # Every removed/added line is a resources line or the worker count.
    body = [l for l in diff.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    allowed = ("cpu:", "memory:", "requests:", "limits:", "resources:", "worker_count")
    assert body and all(l[1:].strip().startswith(allowed) for l in body), [l for l in body if not l[1:].strip().startswith(allowed)]
    # the tfvars file changes by that one number, and nothing else
    tf = git(repo, "diff", "-U0", "--", "infrastructure/terraform/proxmox/terraform.tfvars")
    assert [l for l in tf.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))] == [
        "-worker_count  = 1   # pve-worker-N", "+worker_count  = 3   # pve-worker-N"]
    # every file still parses and holds exactly what the plan said
    from bot.gitops.patch import read_spec
    inv = discover(repo)
    for d in result.plan.selected:
        ch = d.change()
        (c, t), = map_changes(inv, [ch]).mapped
        got = read_spec(inv.doc(t.file, t.doc), t.block)
        for kind, res, _, new in ch.changed_fields():
            assert got[(kind, res)] == new, (ch.ref, kind, res)


def test_comments_and_style_survive(repo):
    ha = "kubernetes/apps/home/home-assistant/app/helmrelease.yaml"
    pg = "kubernetes/apps/database/postgres/app/postgres.yaml"
    policy = load_policy(repo)
    snap = load_snapshot(DEMO / "snapshot.yaml")
    run_pipeline(repo, snap, None, write=True, policy=policy)
    # home-assistant CPU: request = p95 450m (no margin; peak 500m < 1.5 × 450m, no burst); its limit follows the
    # formula max(request × 2, peak × 1.2) = max(900m, 600m) = 900m, inside +100% of 500m
    assert "cpu: 900m     # keep the Pi responsive" in (repo / ha).read_text()  # comment kept, and still aligned
    pg_text = (repo / pg).read_text()
    # postgres is Guaranteed: request = limit = max(p95 200m (no margin; peak 260m < 1.5 × p95, no burst),
    # peak 260m × 1.2 (the limit rule)) = 312m → 320m (10m steps under a core), a 68% cut inside balanced's 99%
    # step, so the limit still covers the peak; the file
    # writes quoted cores, so the new value is quoted cores too
    assert pg_text.count('cpu: "0.32"') == 2
    assert "# A single Postgres for the homelab apps." in pg_text


def test_shared_default_is_never_edited(repo):
    tautulli = "kubernetes/apps/media/tautulli/app/helmrelease.yaml"
    before = (repo / tautulli).read_text()
    ch = change("media", "Deployment", "tautulli", "app", spec(50, 256 * MI, None, 512 * MI), spec(20, 128 * MI, None, 512 * MI), "tautulli")
    from bot.gitops import apply
    result = apply(repo, map_changes(discover(repo), [ch]), write=True)
    assert not result.refused
    after = (repo / tautulli).read_text()
    # the defaultContainerOptions block is untouched; a container-level block appears under controllers.tautulli.containers.app
    assert before.split("    controllers:")[0] == after.split("    controllers:")[0]
    assert "              requests:\n                cpu: 20m\n                memory: 128Mi" in after


def test_unmapped_containers_say_why(repo):
    inv = discover(repo)
    cases = [
        change("media", "Deployment", "sonarr", "sidecar", spec(), spec(10), "sonarr"),
        change("media", "Deployment", "nope", "app", spec(), spec(10), "nope"),
        change("media", "Deployment", "sonarr-worker", "app", spec(), spec(10), "sonarr"),
        change("media", "Deployment", "ghost", "app", spec(), spec(10)),
    ]
    reasons = dict((c.ref, why) for c, why in map_changes(inv, cases).unmapped)
    assert "container sidecar is not under controllers.sonarr.containers" in reasons["media/sonarr/sidecar"]
    assert "HelmRelease media/nope not found" in reasons["media/nope/app"]
    assert "no controller of HelmRelease media/sonarr renders as Deployment sonarr-worker" in reasons["media/sonarr-worker/app"]
    assert "no Deployment named ghost" in reasons["media/ghost/app"]


def test_explicit_mapping_wins(repo):
    from bot.gitops import GitOpsConfig, ExplicitMapping
    cfg = GitOpsConfig(mappings=(ExplicitMapping("media/sonarr", "kubernetes/apps/media/radarr/app/helmrelease.yaml",
                                                 "spec.values.controllers.radarr.containers.app.resources", document=1),))
    inv = discover(repo, cfg)
    (c, t), = map_changes(inv, [change("media", "Deployment", "sonarr", "app", spec(), spec(10), "sonarr")]).mapped
    assert t.file.endswith("radarr/app/helmrelease.yaml") and t.how.startswith("gitops.mappings")


def test_a_container_missing_from_git_is_reported_and_does_not_take_a_slot(repo):
    from dataclasses import replace
    from bot.model import Container, Percentiles, Pod, Usage, Workload
    snap = load_snapshot(DEMO / "snapshot.yaml")
    # A wildly over-provisioned app that only exists in the cluster (installed by hand): the biggest saving of all.
    ghost = Workload("Deployment", "media", "handmade", 1, (Container(
        "app", spec(4000, 8 * GI), Usage(Percentiles(0.01, 0.01, 0.01, 0.01, 0.02), Percentiles(*[50 * MI] * 5)),
        coverage_seconds=30 * 86400),), (Pod("handmade-0", "m720q"),))
    snap = replace(snap, workloads=snap.workloads + (ghost,))
    result = run_pipeline(repo, snap, None)
    status = {d.key: (d.status, d.reason) for d in result.plan.decisions}
    assert status["media/handmade/app"][0] == "skipped"
    assert status["media/handmade/app"][1].startswith("not found in Git: no HelmRelease label and no Deployment named handmade")
    assert len(result.plan.selected) == 8  # the cap is still spent on changes that can be written
    assert "### Not found in Git" in result.drafts[0].body and "`media/handmade/app`" in result.drafts[0].body
