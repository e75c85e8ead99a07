"""Node counts in Terraform: one number changes, every other byte stays; anything else is reported."""

import pytest

from bot.gitops.tfvars import CountError, read_count, set_count
from tests.gitops.corpus import corpus_or_skip


def test_tfvars_assignment(tmp_path):
    text = '# workers\nworker_count  = 2   # pve-worker-N\nworker_cores = 4\n'
    f = tmp_path / "terraform.tfvars"
    f.write_text(text)
    assert read_count(f, "worker_count") == 2
    assert set_count(text, "worker_count", 3) == '# workers\nworker_count  = 3   # pve-worker-N\nworker_cores = 4\n'


def test_variables_tf_default(tmp_path):
    text = 'variable "worker_count" {\n  type    = number\n  default = 1\n\n  validation {\n    condition = var.worker_count >= 0\n  }\n}\nvariable "other" {\n  default = 9\n}\n'
    f = tmp_path / "variables.tf"
    f.write_text(text)
    assert read_count(f, "worker_count") == 1
    assert set_count(text, "worker_count", 2, "variables.tf") == text.replace("default = 1", "default = 2")


def test_crlf_and_no_trailing_newline():
    assert set_count("a = 1\r\nworker_count = 2", "worker_count", 5) == "a = 1\r\nworker_count = 5"


@pytest.mark.parametrize("value", ["var.base + 1", "{ pve = 3 }", "\"3\"", "length(local.nodes)"])
def test_not_a_plain_number_is_reported(value):
    with pytest.raises(CountError, match="not a plain number"):
        set_count(f"worker_count = {value}\n", "worker_count", 3)


def test_missing_and_duplicated():
    with pytest.raises(CountError, match="no `worker_count"):
        set_count("workers = 2\n", "worker_count", 3)
    with pytest.raises(CountError, match="set 2 times"):
        set_count("worker_count = 2\nworker_count = 3\n", "worker_count", 3)


def test_corpus_tfvars_example():
    root = corpus_or_skip()
    f = root / "Naman1997__simple-talos-cluster" / "terraform.tfvars.example"
    text = f.read_text()
    assert read_count(f, "WORKER_COUNT") == 1
    out = set_count(text, "WORKER_COUNT", 3)
    diff = [(a, b) for a, b in zip(text.splitlines(True), out.splitlines(True)) if a != b]
    assert diff == [("WORKER_COUNT = 1\n", "WORKER_COUNT = 3\n")] and len(out) == len(text)


def test_corpus_variables_without_default_or_as_a_map():
    root = corpus_or_skip()
    with pytest.raises(CountError, match="has no default"):
        read_count(root / "Naman1997__simple-talos-cluster" / "variables.tf", "WORKER_COUNT")
    with pytest.raises(CountError, match="not a plain number"):
        read_count(root / "JeffResc__proxmox-talos-terraform" / "variables.tf", "node_distribution")
    with pytest.raises(CountError, match='no variable "worker_count" block'):
        read_count(root / "JeffResc__proxmox-talos-terraform" / "variables.tf", "worker_count")


# --- a pool whose count is a variable's default in variables.tf, end to end through the CLI ------------------

import shutil
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo"
TF = "infrastructure/terraform/proxmox"


def _git(repo, *args):
    env = {"GIT_AUTHOR_DATE": "2026-10-01T12:00:00Z", "GIT_COMMITTER_DATE": "2026-10-01T12:00:00Z",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def _commit(repo):
    # Committed weeks before the snapshots below (2026-11-22), so the pool's cooldown has passed.
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "cluster")


def _plan(*args):
    return subprocess.run([sys.executable, "-m", "bot", "plan", "--quiet", *args], capture_output=True, text=True)


def _changed_lines(diff):
    return [l for l in diff.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))]


def test_variables_tf_pool_scales_up_end_to_end(tmp_path):
    # The demo homelab, with its worker count kept only as variables.tf's default (1) instead of in terraform.tfvars.
    # tests/gitops/test_demo_repo.py shows this snapshot wants two more pve workers (1 → 3).
    repo = tmp_path / "repo"
    shutil.copytree(DEMO / "repo", repo)
    tfvars = repo / TF / "terraform.tfvars"
    tfvars.write_text("".join(l for l in tfvars.read_text().splitlines(True) if not l.startswith("worker_count")))
    (repo / ".github").mkdir()
    policy = (DEMO / "policy.yaml").read_text()
    assert f"file: {TF}/terraform.tfvars" in policy
    (repo / ".github" / "rightsizer.yaml").write_text(policy.replace(f"file: {TF}/terraform.tfvars", f"file: {TF}/variables.tf"))
    _commit(repo)
    before = (repo / TF / "variables.tf").read_text()

    out = tmp_path / "out"
    r = _plan("--snapshot", str(DEMO / "snapshot.yaml"), "--repo", str(repo), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert _git(repo, "status", "--porcelain") == ""  # without --write nothing in the checkout changes
    # The node pool goes in its own PR, so its patch is changes-nodes.diff, not changes.diff.
    assert f"a/{TF}/variables.tf" not in (out / "changes.diff").read_text()
    section = (out / "changes-nodes.diff").read_text().split(f"--- a/{TF}/variables.tf\n")[1].split("\n--- a/")[0]
    assert _changed_lines(section) == ["-  default     = 1", "+  default     = 3"]

    r = _plan("--snapshot", str(DEMO / "snapshot.yaml"), "--repo", str(repo), "--out", str(tmp_path / "out2"), "--write")
    assert r.returncode == 0, r.stderr
    # Exactly one number changed: the default of variable "worker_count" (line 4), and no other byte.
    assert _changed_lines(_git(repo, "diff", "-U0", "--", f"{TF}/variables.tf")) == [
        "-  default     = 1", "+  default     = 3"]
    assert (repo / TF / "variables.tf").read_text() == before.replace("default     = 1", "default     = 3", 1)


SMALL_SNAPSHOT = """
version: 1
collectedAt: "2026-11-22T06:00:00Z"
window: 14d
nodes:
{nodes}
workloads:
{workloads}
"""


def test_variables_tf_pool_scales_down_end_to_end(tmp_path):
    # Three 4-core / 8Gi workers, each running one app that requests 100m / 256Mi and uses less.
    # Without w1 (least loaded: all tie, first by name), its pod moves to w2; the two left hold
    # 3 × 256Mi = 768Mi of 2 × 80% × 8Gi = 12.8Gi budget (6%) and 300m of 6400m CPU (5%): under the
    # default 75% → 3 → 2. min is 1, and the last commit is 52 days before the snapshot (past any cooldown).
    nodes = "\n".join(f"  - {{name: w{i}, allocatable: {{cpu: '4', memory: 8Gi}}, labels: {{pool: w}}}}" for i in (1, 2, 3))
    workloads = "\n".join(
        f"  - {{kind: Deployment, namespace: default, name: app{i}, replicas: 1, pods: [{{name: app{i}-0, node: w{i}}}],\n"
        f"     containers: [{{name: app, requests: {{cpu: 100m, memory: 256Mi}}, coverageSeconds: 1209600,\n"
        f"       usage: {{cpu: {{p50: 0.01, p90: 0.02, p95: 0.02, p99: 0.03, max: 0.05}},\n"
        f"               memory: {{p50: 100000000, p90: 110000000, p95: 120000000, p99: 130000000, max: 140000000}}}}}}]}}"
        for i in (1, 2, 3)
    )
    snap = tmp_path / "snap.yaml"
    snap.write_text(SMALL_SNAPSHOT.format(nodes=nodes, workloads=workloads))
    repo = tmp_path / "repo"
    (repo / "terraform").mkdir(parents=True)
    variables = ('variable "worker_count" {\n  type    = number\n  default = 3 # one VM each\n}\n\n'
                 'variable "worker_memory" {\n  default = 8192\n}\n')
    (repo / "terraform" / "variables.tf").write_text(variables)
    (repo / ".github").mkdir()
    (repo / ".github" / "rightsizer.yaml").write_text(
        "version: 1\nbudgets:\n  cluster: {cpu: 80, memory: 80}\n  node: {cpu: 80, memory: 80}\n"
        "nodePools:\n  - name: workers\n    selector: {pool: w}\n"
        "    terraform: {file: terraform/variables.tf, variable: worker_count}\n    min: 1\n    max: 5\n")
    _commit(repo)

    r = _plan("--snapshot", str(snap), "--repo", str(repo), "--out", str(tmp_path / "out"), "--write")
    assert r.returncode == 0, r.stderr
    assert _changed_lines(_git(repo, "diff", "-U0")) == ["-  default = 3 # one VM each", "+  default = 2 # one VM each"]
    assert (repo / "terraform" / "variables.tf").read_text() == variables.replace("default = 3", "default = 2")
