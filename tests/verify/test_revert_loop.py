"""The verification loop end to end: a real git repository behind the GitHub emulator (real
PyGithub), a merged Rightsizer PR, the real Prometheus holding the metrics around its rollout
(rollout_data.py), and ``Session.run`` as a scheduled run calls it.

The merged PR is published with ``publish()`` from a draft the GitOps adapter patched (the
engine's choice of values is not under test here; the values must match the recorded metrics).
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot import gitops
from bot.engine.verify import ChangeRecord, Record
from bot.github import state as prstate
from bot.github.app import GitHubConfig, RunConfig, Session
from bot.github.client import ClientSettings
from bot.github.publish import publish
from bot.model import ContainerChange, HelmReleaseRef, Resources, ResourceSpec, Snapshot
from bot.pipeline import PullRequestDraft
from bot.policy import Overrides
from bot.snapshot import snapshot_from_dict
from bot.sources.prometheus import PrometheusClient, PrometheusConfig
from tests.github.emulator import BOT, GitHubEmulator, Pull
from tests.github.support import TOKEN, git
from tests.verify import rollout_data as d

MI = d.MI
HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: shop
spec:
  interval: 30m
  chart:
    spec:
      chart: {name}
      sourceRef:
        kind: HelmRepository
        name: charts
  values:
    # sized by hand
    resources:
      requests:
        cpu: {cpu}
        memory: {memory}
{limits}"""
POLICY = "gitops:\n  charts:\n" + "".join(f"    - {{chart: {n}, valuesPath: resources}}\n" for n in ("api", "worker", "web", "cache"))
FILES = {
    "api": ("250m", "512Mi", "      limits:\n        memory: 1Gi\n"),
    "worker": ("500m", "256Mi", "      limits:\n        cpu: 1000m\n"),
    "web": ("200m", "512Mi", ""),
    "cache": ("100m", "256Mi", ""),
}


def path(name: str) -> str:
    return f"apps/shop/{name}/helmrelease.yaml"


def text(name: str) -> str:
    cpu, mem, lim = FILES[name]
    return HELMRELEASE.format(name=name, cpu=cpu, memory=mem, limits=lim)


def spec(req: dict, lim: dict) -> ResourceSpec:
    return ResourceSpec(Resources(req.get("cpu"), req.get("memory")), Resources(lim.get("cpu"), lim.get("memory")))


# old → new per workload, in millicores and bytes (the new values are what rollout_data's new pods run with)
CHANGES = {
    "api": (spec({"cpu": 250, "memory": 512 * MI}, {"memory": 1024 * MI}), spec({"cpu": 250, "memory": 256 * MI}, {"memory": 300 * MI})),
    "worker": (spec({"cpu": 500, "memory": 256 * MI}, {"cpu": 1000}), spec({"cpu": 100, "memory": 256 * MI}, {"cpu": 200})),
    "web": (spec({"cpu": 200, "memory": 512 * MI}, {}), spec({"cpu": 200, "memory": 384 * MI}, {})),
    "cache": (spec({"cpu": 100, "memory": 256 * MI}, {}), spec({"cpu": 100, "memory": 128 * MI}, {})),
}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def world(tmp_path, spec_doc, prom_url):
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for name in FILES:
        (work / path(name)).parent.mkdir(parents=True)
        (work / path(name)).write_text(text(name))
    # charts outside the built-in table are mapped in the policy (issue 12: their root `resources` is never assumed)
    (work / ".github").mkdir()
    (work / ".github" / "rightsizer.yaml").write_text(POLICY)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "apps")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    emu = GitHubEmulator(bare, spec=spec_doc).start()
    yield World(emu, work, tmp_path, prom_url)
    emu.stop()
    assert not emu.violations, "GitHub OpenAPI contract violations:\n" + "\n".join(emu.violations)


@pytest.fixture(scope="session")
def spec_doc():
    from tests.github.openapi import SPEC_PATH, load_spec

    if not SPEC_PATH.exists():
        pytest.skip(f"{SPEC_PATH} is missing: run `bash scripts/deps.d/github.sh`")
    return load_spec()


class World:
    def __init__(self, emu: GitHubEmulator, work: Path, tmp: Path, prom_url: str):
        self.emu, self.work, self.tmp, self.prom_url = emu, work, tmp, prom_url
        self.summary = tmp / "summary.md"

    def session(self, now: float, snapshot: Snapshot | None = None, prometheus: bool = True) -> Session:
        cfg = RunConfig(repo_dir=self.work, step_summary=self.summary)
        gh = GitHubConfig(token=TOKEN, repository=f"{self.emu.owner}/{self.emu.name}", api_url=self.emu.base_url,
                          settings=ClientSettings(retries=2, backoff=0.01, write_pause=0))
        snap = snapshot or Snapshot(1, iso(now), "14d", 14 * 86400, (), ())
        client = PrometheusClient(PrometheusConfig(self.prom_url)) if prometheus else None
        return Session(cfg, gh, lambda: snap, prometheus=client)

    def pull(self) -> None:
        git(self.work, "pull", "-q", "--ff-only", "origin", "main")

    def merge_rightsizer_pr(self, names: list[str], merged_at: float = d.MERGE, new: dict | None = None) -> int:
        """The bot opens a resources PR changing ``names`` (through the GitOps adapter), a person merges it."""
        session = self.session(merged_at)
        records, changes = [], []
        for name in names:
            old, target = (new or {}).get(name, CHANGES[name])
            helm = HelmReleaseRef(name, "shop")
            records.append(ChangeRecord("shop", "Deployment", name, "app", old, target, helm))
            changes.append(ContainerChange("shop", "Deployment", name, "app", old, target, helm_release=helm))
        inv = gitops.discover(self.work, gitops.config_from_policy(YAML(typ="safe").load(POLICY)["gitops"]), lazy=True)
        result = gitops.apply(self.work, gitops.map_changes(inv, changes))
        assert len(result.edits) == len(names), result
        draft = PullRequestDraft("resources", f"Right-size {len(names)} container(s)", "body",
                                 {e.path: e.after for e in result.edits}, len(names), ("rightsizer",), "fp-" + "-".join(names),
                                 [f"`shop/{n}/app`" for n in names], records=tuple(records))
        published = publish(session.target, draft, None, Overrides())
        self.emu.merge(published.pr_number, merged_at=iso(merged_at))
        self.pull()
        return published.pr_number

    def open_pulls(self, head: str) -> list[Pull]:
        return [p for p in self.emu.pulls.values() if p.head == head and p.state == "open"]

    def branch_file(self, branch: str, rel: str) -> str:
        return self.emu.git("show", f"refs/heads/{branch}:{rel}")


def test_oom_after_memory_cut_opens_one_revert_pr_with_the_old_lines(world):
    pr = world.merge_rightsizer_pr(["api", "web"])
    merge_sha = world.emu.pulls[pr].merge_commit_sha
    outcome = world.session(d.NOW).run()

    reverts = world.open_pulls("rightsizer/revert")
    assert len(reverts) == 1
    rv = reverts[0]
    assert "revert" in rv.labels and rv.user == BOT
    # Exactly the old lines: the api file on the revert branch is byte for byte the file before PR #1,
    # and no other file differs from main.
    head = world.emu.ref_sha("rightsizer/revert")
    assert world.emu.git("diff", "--name-only", "main", head).splitlines() == [path("api")]
    assert world.branch_file("rightsizer/revert", path("api")) + "\n" == text("api")
    # Evidence: the causing PR, the numbers (rollout_data: 0 → 1 OOM-killed pod, 0 → 2 restarts), a chart.
    body = rv.body
    assert f"changed by #{pr} (merge {merge_sha[:12]})" in body
    assert "| OOM kills | 0 | 1 |" in body and "| Restarts | 0 | 2 |" in body
    assert "| Memory peak | 200Mi | 290Mi |" in body
    # 290Mi of the new 300Mi limit = 96.7 % → 97 %; of the 256Mi request 113 %.
    assert "memory: peak 290Mi, 113% of the new request 256Mi, 97% of the new limit 300Mi" in body
    # Chart bars: OOM kills, restarts, Ready lost, throttling % (api pods: 30 of 600 periods = 5 % throughout).
    assert "xychart-beta" in body and "bar [0, 0, 0, 5]\n    bar [1, 2, 2, 5]" in body
    assert "memory request 256Mi → 512Mi, memory limit 300Mi → 1Gi" in body
    # The merged PR keeps the verdicts and the merge commit (the auditable history).
    st = prstate.parse(world.emu.pulls[pr].body)
    assert st.merge_commit == merge_sha
    verdicts = {r.ref: (r.status, r.revert_pr) for r in st.verification}
    assert verdicts == {"shop/api/app": ("regressed", rv.number), "shop/web/app": ("ok", 0)}
    assert any(f"Revert #{rv.number}" in c.body for c in world.emu.comments.values() if c.issue == pr)
    assert any(p.scope == "revert" and p.action == "created" for p in outcome.published)
    assert outcome.result.report["verification"]["revert"] == {"action": "created", "pr": rv.number}

    # A rerun on the same data (e.g. `/rightsize recompute`) finds the same regression: nothing is written.
    world.emu.reset_log()
    world.session(d.NOW).run()
    assert world.emu.writes() == []
    # A later run measures longer windows: the same PR is kept up to date (no second revert PR).
    world.session(d.NOW + 3600).run()
    assert [p.number for p in world.open_pulls("rightsizer/revert")] == [rv.number]
    assert "each window 24.7 h" in world.emu.pulls[rv.number].body  # 24h − 20m + 1h


def test_throttling_after_cpu_cut_reverts(world):
    pr = world.merge_rightsizer_pr(["worker"])
    world.session(d.NOW).run()
    (rv,) = world.open_pulls("rightsizer/revert")
    assert world.branch_file("rightsizer/revert", path("worker")) + "\n" == text("worker")
    # 30 of 600 periods throttled before, 420 of 600 after.
    assert "| CPU throttling | 5.0% | 70.0% |" in rv.body
    assert "CPU throttling: 5% before → 70% after (threshold 50%)" in rv.body
    assert f"changed by #{pr}" in rv.body


def test_no_regression_no_pr(world):
    pr = world.merge_rightsizer_pr(["web"])
    world.session(d.NOW).run()
    assert world.open_pulls("rightsizer/revert") == [] and world.emu.ref_sha("rightsizer/revert") is None
    assert [(r.ref, r.status) for r in prstate.parse(world.emu.pulls[pr].body).verification] == [("shop/web/app", "ok")]


def test_a_stale_revert_pr_is_closed_with_a_comment(world):
    world.merge_rightsizer_pr(["api"])
    world.session(d.NOW).run()
    (rv,) = world.open_pulls("rightsizer/revert")
    # A person restores the old values by hand on main instead of merging the revert PR.
    (world.work / path("api")).write_text(text("api"))
    git(world.work, "commit", "-qam", "restore api by hand")
    git(world.work, "push", "-q", "origin", "main")
    world.session(d.NOW + 3600).run()
    assert world.emu.pulls[rv.number].state == "closed" and world.emu.pulls[rv.number].merged_at is None
    closing = [c.body for c in world.emu.comments.values() if c.issue == rv.number]
    assert any("I am closing this PR" in c for c in closing)
    assert world.emu.ref_sha("rightsizer/revert") is None  # the bot's own branch is cleaned up


def test_a_change_that_never_rolled_out_is_reported_not_reverted(world):
    pr = world.merge_rightsizer_pr(["cache"])
    outcome = world.session(d.NOW).run()
    assert world.open_pulls("rightsizer/revert") == []
    note = f"#{pr} `shop/cache/app`: merged 1.0d ago but no pod ran with the new values: is Flux reconciling?"
    assert note in outcome.result.report["verification"]["notes"]
    assert note in world.summary.read_text()
    assert [(r.ref, r.status) for r in prstate.parse(world.emu.pulls[pr].body).verification] == [
        ("shop/cache/app", "not-rolled-out")]


def _workload(name: str, cpu: str, limits: dict) -> dict:
    # ~200 MB used against a 512Mi request, CPU near its request: the engine wants to cut memory only.
    mem = 200_000_000
    return {
        "kind": "Deployment", "namespace": "shop", "name": name, "replicas": 1,
        "helmRelease": {"name": name, "namespace": "shop"},
        "pods": [{"name": f"{name}-1", "node": "n1", "phase": "Running"}],
        "containers": [{
            "name": "app", "requests": {"cpu": cpu, "memory": "512Mi"}, "limits": limits,
            "usage": {"cpu": {"p50": 0.2, "p90": 0.21, "p95": 0.22, "p99": 0.23, "max": 0.24},
                      "memory": {"p50": mem * 0.8, "p90": mem * 0.9, "p95": mem, "p99": mem * 1.05, "max": mem * 1.1}},
            "coverageSeconds": 30 * 86400, "restarts": 0}]}


def api_snapshot(now: float, web: bool = False) -> Snapshot:
    """api as it runs after the revert (512Mi request, 1Gi limit), and optionally web (512Mi request)."""
    workloads = [_workload("api", "250m", {"memory": "1Gi"})] + ([_workload("web", "200m", {})] if web else [])
    return snapshot_from_dict({
        "version": 1, "collectedAt": iso(now), "window": "14d",
        "nodes": [{"name": "n1", "allocatable": {"cpu": "8", "memory": "32Gi"}}],
        "workloads": workloads,
    })


def _api_decision(outcome):
    return next(x for x in outcome.result.plan.decisions if x.key == "shop/api/app")


def test_backoff_blocks_the_same_cut_then_allows_it_after_the_cooldown(world):
    world.merge_rightsizer_pr(["api"])
    world.session(d.NOW).run()
    (rv,) = world.open_pulls("rightsizer/revert")

    # While the revert PR is open, the resources plan leaves api alone, and the resources PR (for web)
    # starts by asking to merge the memory revert first.
    out = world.session(d.NOW + 600, api_snapshot(d.NOW + 600, web=True)).run()
    assert _api_decision(out).reason == f"revert #{rv.number} is open: merge it first"
    (resources,) = world.open_pulls("rightsizer/resources")
    assert resources.body.startswith(f"> [!IMPORTANT]\n> Merge revert #{rv.number} first: it restores the memory "
                                     "of `shop/api/app`")
    assert [c.ref for c in prstate.parse(resources.body).changes] == ["shop/web/app"]
    # A person closes it (not part of this story).
    world.emu.pulls[resources.number].state, world.emu.pulls[resources.number].closed_at = "closed", iso(d.NOW)

    # Eight days on, the causing PR is outside verify.window, but its regression still needs restoring:
    # the same revert PR stays. (Its after window is now 7 days long, past the recorded data: the
    # numbers are those of the data there is.)
    out = world.session(d.MERGE + 8 * 86400, api_snapshot(d.MERGE + 8 * 86400)).run()
    assert [p.number for p in world.open_pulls("rightsizer/revert")] == [rv.number]
    assert "| OOM kills | 0 | 1 |" in world.emu.pulls[rv.number].body
    assert _api_decision(out).reason == f"revert #{rv.number} is open: merge it first"

    world.emu.merge(rv.number, merged_at=iso(d.NOW + 3600))
    world.pull()
    # One day later the same memory cut is proposed again by the engine, and held by the back-off:
    # the regression was recorded at NOW; first revert → 1 × cooldown (7d) → until NOW + 7d.
    out = world.session(d.NOW + 86400, api_snapshot(d.NOW + 86400)).run()
    decision = _api_decision(out)
    assert decision.status == "skipped"
    assert decision.reason == (f"back-off after 1 revert(s) (latest: #1): no memory downsize until "
                               f"{datetime.fromtimestamp(d.NOW + 7 * 86400, timezone.utc):%Y-%m-%d %H:%M} UTC")
    assert world.open_pulls("rightsizer/resources") == []
    # After the cool-down the cut is proposed again (the resources PR opens, changing api's memory).
    later = d.NOW + 7 * 86400 + 3600
    out = world.session(later, api_snapshot(later), prometheus=False).run()
    decision = _api_decision(out)
    assert decision.status == "selected"
    assert decision.recommendation.proposed.requests.memory < 512 * MI
    (resources,) = world.open_pulls("rightsizer/resources")
    # The new PR records what it changes, for the next verification: api's memory from the restored 512Mi.
    (recorded,) = prstate.parse(resources.body).changes
    assert recorded.ref == "shop/api/app" and recorded.old.requests.memory == 512 * MI
    assert recorded.new.requests.memory == decision.recommendation.proposed.requests.memory


def seed_history(world, number: int, at: float, records: list[Record]) -> None:
    """A merged resources PR from earlier weeks whose state holds earlier runs' verdicts."""
    body = "earlier\n\n" + prstate.render(prstate.PrState(verification=tuple(records))) + "\n"
    world.emu.pulls[number] = Pull(number, "Right-size", body, "rightsizer/resources", "main", BOT, state="closed",
                                   closed_at=iso(at), merged_at=iso(at), merge_commit_sha="0" * 40)


def test_degraded_warning_at_three_of_five(world):
    # Earlier weeks: in namespace shop, 1 of 2 judged changes was reverted.
    week = 7 * 86400
    seed_history(world, 1, d.MERGE - 3 * week, [Record("shop/api/app", 1, "regressed", d.MERGE - 3 * week + 86400,
                                                       (("requests", "memory", "down"),))])
    seed_history(world, 2, d.MERGE - 2 * week, [Record("shop/web/app", 2, "ok", d.MERGE - 2 * week + 86400,
                                                       (("requests", "memory", "down"),))])
    # This week: api (OOM) and worker (throttling) regress, web is fine → shop: 3 of the last 5 reverted.
    world.merge_rightsizer_pr(["api", "worker", "web"])
    # The snapshot has web (the engine cuts its memory again), so a resources PR opens too.
    outcome = world.session(d.NOW, api_snapshot(d.NOW, web=True)).run()
    warning = ("3 of the last 5 changes in namespace `shop` were reverted: the policy is too aggressive there. "
               "Suggestion: raise `memory.margin` or lower `memory.maxDecreasePercent` in namespaces.shop; "
               "or raise `cpu.margin` or lower `cpu.maxDecreasePercent` in namespaces.shop.")
    assert outcome.result.report["verification"]["degraded"] == [warning]
    (rv,) = world.open_pulls("rightsizer/revert")
    assert warning in rv.body
    assert warning in world.summary.read_text()
    (resources,) = world.open_pulls("rightsizer/resources")
    assert f"> [!WARNING]\n> {warning}" in resources.body


def test_degraded_warning_not_at_two_of_five(world):
    week = 7 * 86400
    seed_history(world, 1, d.MERGE - 2 * week, [Record("shop/web/app", 1, "ok", d.MERGE - 2 * week + 86400,
                                                       (("requests", "memory", "down"),))])
    world.merge_rightsizer_pr(["api", "worker", "web"])
    # shop: ok, regressed, regressed, ok → 2 of 4: no warning.
    outcome = world.session(d.NOW).run()
    assert outcome.result.report["verification"]["degraded"] == []


def test_explain_shows_the_verification_history(world):
    pr = world.merge_rightsizer_pr(["api", "web"])
    world.session(d.NOW).run()
    text_ = world.session(d.NOW + 60, api_snapshot(d.NOW + 60), prometheus=False).explain("shop/api")
    assert "### Verification history (newest first)" in text_
    assert f"`shop/api/app` (#{pr}: request memory down, limit memory down): **regressed** — OOM kills: 0 before → 1 after" in text_
    assert "shop/web/app" not in text_.split("### Verification history")[1]


def test_prometheus_down_skips_verification_but_keeps_the_history(world):
    from tests.fixtures.prometheus.server import free_port

    world.merge_rightsizer_pr(["api"])
    world.session(d.NOW).run()
    (rv,) = world.open_pulls("rightsizer/revert")
    session = world.session(d.NOW + 600, api_snapshot(d.NOW + 600))
    session._prometheus = PrometheusClient(PrometheusConfig(f"http://127.0.0.1:{free_port()}", retries=0, timeout=2))
    out = session.run()
    notes = out.result.report["verification"]["notes"]
    assert len(notes) == 1 and notes[0].startswith("verification skipped this run: Prometheus query failed: cannot connect")
    # The open revert still holds api back; the revert PR is left as it was.
    assert _api_decision(out).reason == f"revert #{rv.number} is open: merge it first"
    assert world.emu.pulls[rv.number].state == "open"


def test_dashboard_issue_shows_the_verdicts_and_the_open_revert_pr(world):
    pr = world.merge_rightsizer_pr(["api", "web"])
    world.session(d.NOW).run()
    (rv,) = world.open_pulls("rightsizer/revert")
    (board,) = world.emu.issues.values()
    # The same verdict lines as `/rightsize explain`, seen at d.NOW = 2025-11-21 00:00 UTC (rollout_data: api
    # OOM-killed once and restarted twice after the cut; web fine).
    history = board.body.split("## Verification and reverts\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(history) == 2
    assert history[0].startswith(f"- 2025-11-21 00:00 UTC `shop/api/app` (#{pr}: request memory down, limit memory down): "
                                 "**regressed** — OOM kills: 0 before → 1 after; restarts: 0 before → 2 after")
    assert history[0].endswith(f"→ revert #{rv.number}")
    assert history[1] == f"- 2025-11-21 00:00 UTC `shop/web/app` (#{pr}: request memory down): **ok**"
    assert f"- #{rv.number} `revert`: open" in board.body
    # Without Prometheus the history is only read, nothing published: the open revert PR is still listed.
    world.session(d.NOW + 60, api_snapshot(d.NOW + 60), prometheus=False).run()
    assert f"- #{rv.number} `revert`: open" in world.emu.issues[board.number].body
