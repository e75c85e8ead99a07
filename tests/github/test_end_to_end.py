"""End to end with the real engine and GitOps adapter: `rightsizer event` (the Action's entry
point) on a demo Flux repo + snapshot, publishing through real PyGithub to the emulator.

Scenario (issue 5): first run opens one PR with one signed commit; an identical second run
writes nothing; changed usage updates the same PR and posts one rationale comment; a foreign
commit on the branch is not overwritten; `/rightsize skip` then `recompute` drops the workload.
"""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.cli import main
from bot.github import state as prstate
from .support import TOKEN, git
from .emulator import BOT, GitHubEmulator
from .openapi import webhook_examples


def _gitops_ready() -> bool:
    try:
        mod = importlib.import_module("bot.gitops")
    except ImportError:
        return False
    return all(hasattr(mod, n) for n in ("config_from_policy", "discover", "map_changes", "apply"))


pytestmark = pytest.mark.skipif(not _gitops_ready(), reason="bot.gitops (the GitOps adapter) is not in this build yet")

HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: media
spec:
  interval: 30m
  chart:
    spec:
      chart: {name}
      sourceRef:
        kind: HelmRepository
        name: charts
  values:
    # requests tuned by hand in 2024
    resources:
      requests:
        cpu: {cpu}
        memory: {memory}
      limits:
        memory: {limit}
"""


CHART_POLICY = "gitops:\n  charts:\n    - {chart: sonarr, valuesPath: resources}\n    - {chart: radarr, valuesPath: resources}\n"


def workload(name: str, cpu: str, memory: str, limit: str, mem_p95: int) -> dict:
    # Usage far below the requests: the engine proposes step-limited downsizes.
    return {
        "kind": "Deployment", "namespace": "media", "name": name, "replicas": 1,
        "helmRelease": {"name": name, "namespace": "media"},
        "pods": [{"name": f"{name}-0", "node": "m720q", "phase": "Running"}],
        "containers": [{
            "name": "app", "requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit},
            "usage": {"cpu": {"p50": 0.05, "p90": 0.1, "p95": 0.12, "p99": 0.2, "max": 0.3},
                      "memory": {"p50": mem_p95 * 0.8, "p90": mem_p95 * 0.9, "p95": mem_p95,
                                 "p99": mem_p95 * 1.05, "max": mem_p95 * 1.1}},
            "coverageSeconds": 30 * 86400, "restarts": 0}],
    }


def snapshot(radarr_mem_p95: int) -> dict:
    return {"version": 1, "collectedAt": "2026-11-22T10:00:00Z", "window": "14d",
            "nodes": [{"name": "m720q", "allocatable": {"cpu": "6", "memory": "32Gi"}},
                      {"name": "pi4", "allocatable": {"cpu": "4", "memory": "8Gi"}}],
            "workloads": [workload("sonarr", "1000m", "2Gi", "4Gi", 380_000_000),
                          workload("radarr", "800m", "1Gi", "2Gi", radarr_mem_p95)]}


@pytest.fixture
def flux(tmp_path, spec):
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for name, cpu, mem, lim in (("sonarr", "1000m", "2Gi", "4Gi"), ("radarr", "800m", "1Gi", "2Gi")):
        path = work / "apps" / "media" / name / "helmrelease.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(HELMRELEASE.format(name=name, cpu=cpu, memory=mem, limit=lim))
    # charts outside the built-in table are mapped in the policy (issue 12: their root `resources` is never assumed)
    (work / ".github").mkdir()
    (work / ".github" / "rightsizer.yaml").write_text(CHART_POLICY)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "apps")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    emu = GitHubEmulator(bare, spec=spec).start()
    emu.permissions.update({"Codertocat": "admin"})
    yield emu, bare, work, tmp_path
    emu.stop()
    assert not emu.violations, "GitHub OpenAPI contract violations:\n" + "\n".join(emu.violations)


def fire(monkeypatch, flux, name: str, payload: dict, radarr_mem_p95: int = 280_000_000) -> int:
    emu, _, work, tmp = flux
    snap = tmp / "snapshot.json"
    snap.write_text(json.dumps(snapshot(radarr_mem_p95)))
    event = tmp / "event.json"
    event.write_text(json.dumps(payload))
    for key, value in {
        "GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(event), "RIGHTSIZER_GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": f"{emu.owner}/{emu.name}", "GITHUB_API_URL": emu.base_url,
        "GITHUB_RUN_ID": "99", "GITHUB_OUTPUT": str(tmp / "out.txt"), "RUNNER_TEMP": str(tmp / "rt"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return main(["event", "--repo", str(work), "--snapshot", str(snap), "--api-write-pause", "0"])


def comment(emu, body: str) -> dict:
    payload = copy.deepcopy(webhook_examples()["issue_comment"][0])
    c = emu.add_comment(1, body, "Codertocat")
    payload["issue"]["number"] = 1
    payload["issue"]["pull_request"] = {"url": f"{emu.base_url}/repos/{emu.owner}/{emu.name}/pulls/1"}
    payload["comment"].update(id=c.id, body=body)
    return payload


def branch_files(bare: Path, tmp: Path, tag: str) -> tuple[Path, list[str]]:
    clone = tmp / f"clone-{tag}"
    subprocess.run(["git", "clone", "-q", "-b", "rightsizer/resources", str(bare), str(clone)], check=True)
    return clone, sorted(git(clone, "diff", "--name-only", "HEAD^", "HEAD").splitlines())


def test_the_whole_story(monkeypatch, flux):
    emu, bare, work, tmp = flux
    schedule = {"schedule": "17 5 * * 1"}
    sonarr, radarr = "apps/media/sonarr/helmrelease.yaml", "apps/media/radarr/helmrelease.yaml"

    # 1. First run: one PR, one commit signed by GitHub, both HelmReleases patched in place.
    assert fire(monkeypatch, flux, "schedule", schedule) == 0
    assert list(emu.pulls) == [1] and emu.pulls[1].user == BOT
    clone, changed = branch_files(bare, tmp, "1")
    assert changed == [radarr, sonarr]
    assert git(clone, "rev-list", "--count", f"{git(work, 'rev-parse', 'HEAD')}..HEAD") == "1"
    assert git(clone, "log", "-1", "--format=%cn") == "GitHub"
    assert "# requests tuned by hand in 2024" in (clone / sonarr).read_text()  # comments survive
    doc = YAML(typ="safe").load((clone / sonarr).read_text())
    # Engine: p95 120m, no margin; the peak 300m is 2.5 × p95 (≥ 1.5): +50% burst → 180m (10m steps above 100m);
    # balanced may step down 99% from 1000m (to 10m), so 180m in one run.
    assert doc["spec"]["values"]["resources"]["requests"]["cpu"] in ("180m", 0.18)

    # 2. Identical rerun: not a single write.
    emu.reset_log()
    assert fire(monkeypatch, flux, "schedule", schedule) == 0
    assert emu.writes() == []

    # 3. Radarr's memory grew: p95 1.2e9 B × 1.15 ≈ 1316Mi, above its 1Gi request, so the plan
    # turns its memory downsize into an upsize: same PR updated, one rationale comment.
    assert fire(monkeypatch, flux, "schedule", schedule, radarr_mem_p95=1_200_000_000) == 0
    assert list(emu.pulls) == [1]
    rationale = [c for c in emu.comments.values() if "rightsizer-rationale" in c.body]
    assert len(rationale) == 1 and "media/radarr/app" in rationale[0].body

    # 4. /rightsize skip media/sonarr, then /rightsize recompute: sonarr leaves the PR.
    assert fire(monkeypatch, flux, "issue_comment", comment(emu, "/rightsize skip media/sonarr"),
                radarr_mem_p95=1_200_000_000) == 0
    assert prstate.parse(emu.pulls[1].body).skips == ("media/sonarr",)
    assert fire(monkeypatch, flux, "issue_comment", comment(emu, "/rightsize recompute"),
                radarr_mem_p95=1_200_000_000) == 0
    _, changed = branch_files(bare, tmp, "4")
    assert changed == [radarr]
    assert not any("sonarr" in line for line in prstate.parse(emu.pulls[1].body).summary_lines)
    assert len(emu.pulls) == 1

    # /rightsize explain answers from the real plan's rationale.
    assert fire(monkeypatch, flux, "issue_comment", comment(emu, "/rightsize explain media/radarr"),
                radarr_mem_p95=1_200_000_000) == 0
    reply = [c.body for c in emu.comments.values() if c.user == BOT][-1]
    # balanced sizes memory from p95: radarr's 1.2e9 B = 1144.4Mi is the rationale's first memory line
    assert reply.startswith("@Codertocat ") and "media/radarr/app" in reply and "memory p95 1144.4Mi" in reply

    # 5. A person pushes to the branch: no overwrite on the next run.
    clone5, _ = branch_files(bare, tmp, "5")
    (clone5 / "NOTE.md").write_text("hands off\n")
    git(clone5, "add", "NOTE.md")
    git(clone5, "commit", "-qm", "human")
    git(clone5, "push", "-q", "origin", "rightsizer/resources")
    foreign = git(clone5, "rev-parse", "HEAD")
    assert fire(monkeypatch, flux, "schedule", schedule, radarr_mem_p95=1_300_000_000) == 0
    assert emu.ref_sha("rightsizer/resources") == foreign
    assert len([c for c in emu.comments.values() if "rightsizer-paused" in c.body]) == 1


DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo"


def test_demo_homelab_opens_exactly_the_pipelines_changes(monkeypatch, tmp_path, spec):
    """The bundled demo (25 apps, several chart layouts) through `rightsizer event`: the PR's
    single commit holds exactly the files the pipeline patched, byte for byte, and a second run
    writes nothing."""
    import shutil

    from bot.pipeline import run_pipeline
    from bot.snapshot import load_snapshot

    bare, work = tmp_path / "origin.git", tmp_path / "work"
    shutil.copytree(DEMO / "repo", work)
    (work / ".github").mkdir(exist_ok=True)
    shutil.copy(DEMO / "policy.yaml", work / ".github" / "rightsizer.yaml")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    # Committed well before the snapshot (2026-11-22), so the node pool is past its cooldown.
    subprocess.run(["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "homelab"],
                   cwd=work, check=True, env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(work),
                                              "GIT_AUTHOR_DATE": "2026-10-01T12:00:00Z",
                                              "GIT_COMMITTER_DATE": "2026-10-01T12:00:00Z"})
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    # What the pipeline itself would write, computed on a separate copy (with its history: the
    # node-pool cooldown reads git log).
    expect_dir = tmp_path / "expected"
    shutil.copytree(work, expect_dir)
    expected = {d.scope: d.files for d in run_pipeline(expect_dir, load_snapshot(DEMO / "snapshot.yaml"), None).drafts}
    assert expected.get("resources"), "the demo is meant to propose resource changes"

    emu = GitHubEmulator(bare, spec=spec).start()
    try:
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"schedule": "17 5 * * 1"}))
        for key, value in {"GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": str(event),
                           "RIGHTSIZER_GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": f"{emu.owner}/{emu.name}",
                           "GITHUB_API_URL": emu.base_url, "RUNNER_TEMP": str(tmp_path / "rt")}.items():
            monkeypatch.setenv(key, value)
        for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
            monkeypatch.delenv(key, raising=False)
        argv = ["event", "--repo", str(work), "--snapshot", str(DEMO / "snapshot.yaml"), "--api-write-pause", "0"]
        assert main(argv) == 0
        for scope, files in expected.items():
            head = emu.ref_sha(f"rightsizer/{scope}")
            assert head and emu.git("rev-parse", f"{head}^") == git(work, "rev-parse", "HEAD")
            changed = sorted(emu.git("diff", "--name-only", f"{head}^", head).splitlines())
            assert changed == sorted(files)
            for path, content in files.items():
                blob = subprocess.run(["git", "--git-dir", str(bare), "cat-file", "blob", f"{head}:{path}"],
                                      capture_output=True, check=True).stdout
                assert blob == content
        assert len(emu.pulls) == len(expected)
        # The demo also scales its worker pool: that PR is opened first and the resources PR links to it.
        assert set(expected) == {"resources", "nodes"}
        by_branch = {p.head: p for p in emu.pulls.values()}
        nodes_pr, resources_pr = by_branch["rightsizer/nodes"], by_branch["rightsizer/resources"]
        assert f"its own PR, #{nodes_pr.number};" in resources_pr.body
        assert "its own PR, #" not in nodes_pr.body
        emu.reset_log()
        assert main(argv) == 0
        assert emu.writes() == []
    finally:
        emu.stop()
    assert not emu.violations, "\n".join(emu.violations)
